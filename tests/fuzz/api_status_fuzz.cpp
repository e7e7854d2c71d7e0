// Error answers of the API server (a metav1.Status body and Retry-After):
// api_error_from_response never throws; a Retry-After it keeps is not
// negative.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz_support.h"
#include "kube/api_error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  int status = in.ConsumeIntegralInRange(100, 599);
  std::optional<std::string> retry_after;
  if (in.ConsumeBool()) retry_after = in.ConsumeRandomLengthString(40);
  std::string body = in.ConsumeRemainingBytesAsString();
  try {
    auto error = sto::kube::api_error_from_response(
        status, body, retry_after ? std::optional<std::string_view>(*retry_after) : std::nullopt);
    if (error.retry_after) sto::fuzz::check(error.retry_after->count() >= 0, "negative wait");
    (void)error.describe();
    (void)error.retryable();
  } catch (...) {
    sto::fuzz::fail("exception out of api_error_from_response");
  }
  return 0;
}
