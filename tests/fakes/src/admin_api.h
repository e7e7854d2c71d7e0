// The admin API under /_fake/ that tests and scripts drive the fake with
// (JSON in and out; errors are `{"error":"..."}` with a 4xx status):
//   GET|PUT|POST /_fake/state                       read, replace, merge the seeded state
//   POST /_fake/instances/{guid}/teams/{id}/reset   new team token (the UI's Reset Token)
//   POST /_fake/iam/revoke                          invalidate every issued access token
//   GET|POST|DELETE /_fake/faults                   list, add, clear injected faults
//   GET /_fake/requests, POST /_fake/requests/reset request counts and recent requests
#pragma once

#include <string_view>

#include "http_messages.h"
#include "world.h"

namespace sto::fake {

inline constexpr std::string_view kAdminPrefix = "/_fake/";

bool is_admin_path(std::string_view path);

Response serve_admin(const Request& request, World& world);

}  // namespace sto::fake
