// Answers of IAM and of the Monitoring API, 200s and error bodies alike
// (hostile or broken servers). The first bytes pick the status, a
// Retry-After header and which reader runs; the rest is the body.
// Invariants: no reader throws; no message quotes the API key or a token;
// a grant or Monitor token is what the caps allow.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_support.h"
#include "ibm/iam_api.h"
#include "ibm/monitoring_api.h"

namespace {

constexpr std::string_view kApiKey = "fuzz-api-key-6d1f0c";
constexpr std::string_view kAccessToken = "fuzz-access-token-93b2e4";

// IAM's answers are checked for the API key only: the access token is what
// IAM hands out, so it is unknown before the answer.
void check_message(const sto::ibm::IbmError& error, bool knows_access_token = true) {
  sto::fuzz::check(error.message.find(kApiKey) == std::string::npos, "message quotes the API key");
  sto::fuzz::check(!knows_access_token || error.message.find(kAccessToken) == std::string::npos,
                   "message quotes the access token");
  for (unsigned char c : error.message) {
    sto::fuzz::check(c >= 0x20 && c != 0x7f, "control character in a message");
  }
  if (error.retry_after) sto::fuzz::check(error.retry_after->count() >= 0, "negative wait");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  int reader = in.ConsumeIntegralInRange(0, 3);
  sto::net::HttpResponse response;
  response.status = in.ConsumeBool() ? 200 : in.ConsumeIntegralInRange(100, 599);
  if (in.ConsumeBool())
    response.headers.push_back({"Retry-After", in.ConsumeRandomLengthString(40)});
  if (in.ConsumeBool()) response.headers.push_back({"Content-Type", "application/json"});
  response.body = in.ConsumeRemainingBytesAsString();
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  sto::ibm::MonitoringCall call{.endpoint = "https://us-south.monitoring.cloud.ibm.com",
                                .subject = "team 26055 of instance 7a1f3c2e",
                                .api_key = kApiKey,
                                .access_token = kAccessToken};
  try {
    switch (reader) {
      case 0: {
        auto grant =
            sto::ibm::read_iam_token_response(response, "https://iam.cloud.ibm.com", kApiKey, now);
        if (grant) {
          sto::fuzz::check(!grant->access_token.empty() &&
                               grant->access_token.size() <= sto::ibm::kMaxAccessTokenSize,
                           "access token size out of bounds");
          sto::fuzz::check(grant->expires_in.count() > 0, "grant without lifetime");
        } else {
          check_message(grant.error(), false);
        }
        break;
      }
      case 1: {
        auto token = sto::ibm::read_monitor_token_response(response, call);
        if (token) {
          sto::fuzz::check(!token->empty() && token->size() <= sto::ibm::kMaxMonitorTokenSize,
                           "Monitor token size out of bounds");
        } else {
          check_message(token.error());
        }
        break;
      }
      case 2: {
        auto team = sto::ibm::read_team_response(response, call);
        if (!team) check_message(team.error());
        break;
      }
      default:
        check_message(sto::ibm::monitoring_error(response, call));
    }
  } catch (...) {
    sto::fuzz::fail("exception out of an IBM answer reader");
  }
  return 0;
}
