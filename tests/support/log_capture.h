// Test support: reads what the code under test logs (common/logging.h),
// every level, for as long as the capture lives.
#pragma once

#include <string_view>
#include <vector>

#include "common/logging.h"

namespace sto::testing {

class LogCapture {
 public:
  LogCapture() : level_(log::level()) {
    log::configure(log::Level::Debug, log::Format::Json);
    previous_ = log::set_sink([this](const log::Record& r) { records_.push_back(r); });
  }
  ~LogCapture() {
    log::set_sink(std::move(previous_));
    log::configure(level_, log::Format::Json);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  const std::vector<log::Record>& records() const { return records_; }
  // The records with this message.
  std::vector<log::Record> find(std::string_view message) const {
    std::vector<log::Record> out;
    for (const auto& r : records_) {
      if (r.message == message) out.push_back(r);
    }
    return out;
  }

 private:
  log::Level level_;
  log::Sink previous_;
  std::vector<log::Record> records_;
};

}  // namespace sto::testing
