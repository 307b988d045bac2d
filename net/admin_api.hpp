#pragma once
// Operators' endpoints under /v1/admin (admin tokens only).
//
//   POST /v1/admin/backup {"dir": "/abs/path"}: a consistent copy of the hub's data in a new
//   directory on the hub's machine (durable sessions' cursors written first, then a RocksDB
//   checkpoint). A hub started with that directory as its data_dir starts from the copy: same
//   epoch, same event ids, sessions and jobs as they were.

#include "net/router.hpp"

namespace herald {

void handle_backup(hub_context& hub, route_request& r, respond_fn respond);

} // namespace herald
