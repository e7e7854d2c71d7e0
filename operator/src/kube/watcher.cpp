#include "kube/watcher.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/memory.h"
#include "kube/watch_decoder.h"

namespace sto::kube {

namespace asio = boost::asio;

namespace {

// List pages and watch events larger than this give their freed memory
// back to the system.
constexpr std::size_t kReleaseAfterBytes = 1u << 20;

}  // namespace

std::int64_t Watcher::next_page_size(std::int64_t limit, std::size_t items,
                                     std::size_t bytes) const {
  const std::size_t target = config_.page_bytes;
  if (items > 0 && bytes > target) {
    // As many objects as fit the target, at this page's average size.
    limit = static_cast<std::int64_t>(std::max<std::size_t>(items * target / bytes, 1));
  } else if (static_cast<std::int64_t>(items) >= limit && bytes < target / 4) {
    limit *= 2;
  }
  return std::clamp<std::int64_t>(limit, 1, config_.page_size);
}

struct Watcher::Sleeper {
  explicit Sleeper(asio::any_io_executor ex) : timer(std::move(ex)) {}
  asio::steady_timer timer;
};

Watcher::Watcher(std::shared_ptr<Client> client, WatcherConfig config)
    : client_(std::move(client)), config_(std::move(config)) {
  if (!config_.on_error) config_.on_error = log_errors();
}

void Watcher::stop() {
  stopped_ = true;
  if (active_->stream && *active_->stream) (*active_->stream)->cancel();
  if (sleeper_) sleeper_->timer.cancel();
}

asio::awaitable<void> Watcher::sleep(std::chrono::milliseconds d) {
  if (!sleeper_) sleeper_ = std::make_shared<Sleeper>(co_await asio::this_coro::executor);
  sleeper_->timer.expires_after(d);
  (void)co_await sleeper_->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> Watcher::run(Sink sink) {
  int failures = 0;
  while (!stopped_) {
    Result<Ok, ApiError> r = Ok{};
    const bool listing = resource_version_.empty();
    if (listing) {
      r = co_await list(sink);
    } else {
      r = co_await watch(sink);
    }
    if (stopped_) break;
    if (r.ok()) {
      failures = 0;
      continue;  // the server closed the watch (timeout): resume at once
    }
    const ApiError& e = r.error();
    stats_.last_error = e.describe();
    if (e.kind == ApiErrorKind::Gone) {
      // Our resourceVersion is too old: start over with a fresh list.
      ++stats_.gone;
      resource_version_.clear();
      failures = 0;
      continue;
    }
    config_.on_error(ErrorReport{"watcher", config_.resource.collection_path(config_.ns),
                                 error_code(e),
                                 std::string(listing ? "list: " : "watch: ") + e.describe()});
    auto delay = config_.backoff.delay(failures++);
    if (e.retry_after) delay = std::max<std::chrono::milliseconds>(delay, *e.retry_after);
    co_await sleep(delay);
  }
  // The timer belongs to the caller's io_context, which may end before this
  // Watcher does.
  sleeper_.reset();
}

asio::awaitable<Result<Ok, ApiError>> Watcher::list(const Sink& sink) {
  ListOptions options;
  options.label_selector = config_.label_selector;
  options.field_selector = config_.field_selector;
  const bool paginated = config_.page_size > 0;
  std::int64_t limit = std::clamp<std::int64_t>(config_.first_page_size, 1,
                                                std::max<std::int64_t>(config_.page_size, 1));
  bool started = false;
  for (;;) {
    options.limit = paginated ? limit : 0;
    auto body = co_await client_->list(config_.resource, config_.ns, options);
    if (!body) {
      if (paginated && body.error().kind == ApiErrorKind::TooLarge && limit > 1) {
        limit = std::max<std::int64_t>(limit / 4, 1);
        continue;
      }
      co_return fail(std::move(body.error()));
    }
    const std::size_t bytes = body.value().size();
    auto page = decode_list(body.value());
    body.value() = std::string();  // the items are copies
    if (!page) co_return fail(std::move(page.error()));
    if (paginated) limit = next_page_size(limit, page->items.size(), bytes);
    if (!started) {
      sink(WatcherEvent{WatcherEventType::InitStart, {}});
      started = true;
    }
    for (auto& item : page->items) {
      ++stats_.events;
      sink(WatcherEvent{WatcherEventType::InitApply, std::move(item)});
    }
    page->items = {};
    if (bytes > kReleaseAfterBytes) release_free_memory();
    if (page->continue_token.empty()) {
      resource_version_ = page->resource_version;
      break;
    }
    options.continue_token = page->continue_token;
  }
  ++stats_.lists;
  sink(WatcherEvent{WatcherEventType::InitDone, {}});
  co_return Ok{};
}

asio::awaitable<Result<Ok, ApiError>> Watcher::watch(const Sink& sink) {
  WatchOptions options;
  options.label_selector = config_.label_selector;
  options.field_selector = config_.field_selector;
  options.resource_version = resource_version_;
  options.allow_bookmarks = true;
  options.timeout = config_.watch_timeout;
  auto opened = co_await client_->watch(config_.resource, config_.ns, options);
  if (!opened) co_return fail(std::move(opened.error()));
  ++stats_.watches;
  std::unique_ptr<WatchStream> stream = std::move(opened.value());
  active_->stream = &stream;
  struct Clear {
    std::shared_ptr<ActiveSlot> slot;
    ~Clear() { slot->stream = nullptr; }
  } clear{active_};
  for (;;) {
    if (stopped_) co_return Ok{};
    auto next = co_await stream->next();
    if (!next) co_return fail(std::move(next.error()));
    if (!next->has_value()) co_return Ok{};  // server-side timeout: resume
    WatchEvent& ev = **next;
    if (!ev.resource_version.empty()) resource_version_ = ev.resource_version;
    const bool large = ev.object.size() > kReleaseAfterBytes;
    switch (ev.type) {
      case WatchEventType::Added:
      case WatchEventType::Modified:
        ++stats_.events;
        sink(WatcherEvent{WatcherEventType::Apply, std::move(ev.object)});
        break;
      case WatchEventType::Deleted:
        ++stats_.events;
        sink(WatcherEvent{WatcherEventType::Delete, std::move(ev.object)});
        break;
      case WatchEventType::Bookmark:
      case WatchEventType::Error:
        break;
    }
    if (large) {
      ev.object = std::string();
      release_free_memory();
    }
  }
}

}  // namespace sto::kube
