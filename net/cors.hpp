#pragma once
// CORS as middleware: an allowed Origin (cors.allowed_origins, "*" for any) gets
// Access-Control-Allow-Origin on every answer, stream heads and refusals included; a preflight
// (OPTIONS, answered by the router with the route's Allow) also gets the allowed methods and
// headers. Other origins get no CORS header at all, so browsers refuse to read the answer.

#include "net/router.hpp"

namespace herald {

class cors_middleware : public middleware {
public:
  void after(hub_context& hub, const http_request& req, http_head& res) override;
};

} // namespace herald
