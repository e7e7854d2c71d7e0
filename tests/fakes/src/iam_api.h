// The IAM token endpoint, POST /identity/token: exchanges an API key for an
// access token, with IAM's success and error bodies
// (`{"errorCode":"BXNIM0415E","errorMessage":...,"context":{...}}`) and its
// Transaction-Id header.
#pragma once

#include <string_view>

#include "http_messages.h"
#include "world.h"

namespace sto::fake {

inline constexpr std::string_view kIamTokenPath = "/identity/token";

Response serve_iam_token(const Request& request, World& world);

// An IAM-shaped error answer (also used for injected faults on IAM paths).
Response iam_error(const Request& request, const World& world, http::status status,
                   std::string_view code, std::string_view message);

}  // namespace sto::fake
