// The caf::test runner for every unit suite (each *_test.cpp defines its CAF_SUITE).
#include <caf/test/unit_test_impl.hpp>
