// Boost.Asio and Boost.Beast compiled once (separate compilation) for the SDK and, when built
// in Herald's tree, for the hub too (herald_net links herald_sdk).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
