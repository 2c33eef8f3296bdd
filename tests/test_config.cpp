// Config: defaults, validate() rules, and the WEFT_* environment and TOML loaders. Every
// rejection is checked for a message that names the key and the offending value.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <weft/config.hpp>

namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kGiB = 1024 * kMiB;

const std::vector<std::string> kEnvNames = {
    "WEFT_WORKERS",
    "WEFT_STACK_SIZE",
    "WEFT_GUARDED_STACKS",
    "WEFT_GUARD_MARKERS",
    "WEFT_STACK_CACHE",
    "WEFT_LOCAL_QUEUE_SIZE",
    "WEFT_GLOBAL_QUEUE_INTERVAL",
    "WEFT_STEAL_ATTEMPTS",
    "WEFT_BACKEND",
    "WEFT_BLOCKING_THREADS",
    "WEFT_CPU_THREADS",
    "WEFT_PIN_WORKERS",
    "WEFT_DEBUG",
    "WEFT_SLOW_CALLBACK_MS",
    "WEFT_BLOCKING_KEEP_ALIVE_MS",
    "WEFT_BLOCKING_QUEUE_LIMIT",
};

// Clears every WEFT_* variable on entry and exit, so an environment test neither sees the
// caller's settings nor leaks its own into the next test.
struct CleanEnv {
  CleanEnv() { clear(); }
  ~CleanEnv() { clear(); }
  CleanEnv(const CleanEnv&) = delete;
  CleanEnv& operator=(const CleanEnv&) = delete;
  static void clear() {
    for (const auto& name : kEnvNames) ::unsetenv(name.c_str());
  }
  static void set(const std::string& name, const std::string& value) {
    REQUIRE(::setenv(name.c_str(), value.c_str(), 1) == 0);
  }
};

// The ConfigError message of f(), or "" if f() did not throw one.
std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const weft::ConfigError& e) {
    return e.what();
  }
  return {};
}

std::string env_error(const std::string& name, const std::string& value) {
  CleanEnv::clear();
  CleanEnv::set(name, value);
  return config_error([] { (void)weft::Config::from_env(); });
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// from_env with only NAME=VALUE set must fail with "weft config: NAME=VALUE <what>...".
void check_env_error(const std::string& name, const std::string& value, const std::string& what) {
  const std::string message = env_error(name, value);
  const std::string expected = "weft config: " + name + "=" + value + " " + what;
  CHECK_MESSAGE(contains(message, expected), "message: " << message);
}

std::string toml_error(const std::string& text, const std::string& name = "test.toml") {
  return config_error([&] { (void)weft::Config::from_toml(text, name); });
}

std::size_t page_size() {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

bool same(const weft::Config& a, const weft::Config& b) {
  return a.workers == b.workers && a.stack_size == b.stack_size &&
         a.guarded_stacks == b.guarded_stacks && a.guard_markers == b.guard_markers &&
         a.stack_cache == b.stack_cache && a.local_queue_size == b.local_queue_size &&
         a.global_queue_interval == b.global_queue_interval &&
         a.steal_attempts == b.steal_attempts && a.backend == b.backend &&
         a.blocking_threads == b.blocking_threads &&
         a.blocking_keep_alive_ms == b.blocking_keep_alive_ms &&
         a.blocking_queue_limit == b.blocking_queue_limit && a.cpu_threads == b.cpu_threads &&
         a.pin_workers == b.pin_workers && a.debug == b.debug &&
         a.slow_callback_ms == b.slow_callback_ms;
}

// A file removed when the test ends, in the system's temp directory.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& contents) {
    std::string pattern = "/tmp/weft_test_config_XXXXXX";
    const int fd = ::mkstemp(pattern.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path = pattern;
    std::ofstream(path) << contents;
  }
  ~TempFile() { ::unlink(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

}  // namespace

TEST_SUITE("config") {
  TEST_CASE("default_workers follows the hardware, at least 1") {
    const unsigned hw = std::thread::hardware_concurrency();
    const unsigned workers = weft::Config::default_workers();
    CHECK(workers >= 1);
    CHECK(workers <= 1024);
    if (hw >= 1 && hw <= 1024) CHECK(workers == hw);
  }

  TEST_CASE("defaults are the documented values and pass validate") {
    const weft::Config cfg;
    CHECK(cfg.workers == weft::Config::default_workers());
    CHECK(cfg.stack_size == 128 * kKiB);
    CHECK(cfg.guarded_stacks == 16384);
    CHECK(cfg.stack_cache == 16384);
    CHECK(cfg.local_queue_size == 256);
    CHECK(cfg.global_queue_interval == 61);
    CHECK(cfg.steal_attempts == 2);
    CHECK(cfg.backend == weft::Backend::epoll);
    CHECK(cfg.blocking_threads == 512);
    CHECK(cfg.blocking_keep_alive_ms == 10'000);
    CHECK(cfg.blocking_queue_limit == 65'536);
    CHECK(cfg.cpu_threads == 0);  // as many as workers
    CHECK_FALSE(cfg.pin_workers);
    CHECK_FALSE(cfg.debug);
    CHECK(cfg.guard_markers);
    CHECK(cfg.slow_callback_ms == 100);
    CHECK_NOTHROW(cfg.validate());
  }

  TEST_CASE("to_string(Backend)") {
    CHECK(weft::to_string(weft::Backend::epoll) == "epoll");
    CHECK(weft::to_string(weft::Backend::io_uring) == "io_uring");
  }

  TEST_CASE("validate rejects each out-of-range field, naming key and value") {
    struct Case {
      const char* what;
      std::function<void(weft::Config&)> set;
      std::string expected;
    };
    const std::string page = std::to_string(page_size());
    const std::vector<Case> cases = {
        {"workers 0", [](auto& c) { c.workers = 0; },
         "weft config: workers = 0 is invalid (must be 1..1024)"},
        {"workers 1025", [](auto& c) { c.workers = 1025; }, "workers = 1025 is invalid"},
        {"stack_size 0", [](auto& c) { c.stack_size = 0; }, "stack_size = 0 is invalid"},
        {"stack_size below a page", [](auto& c) { c.stack_size = page_size() - 1; },
         "stack_size = " + std::to_string(page_size() - 1) + " is invalid (must be " + page +
             "..1073741824)"},
        {"stack_size above 1 GiB", [](auto& c) { c.stack_size = kGiB + 1; },
         "stack_size = 1073741825 is invalid"},
        {"stack_cache above 1<<20", [](auto& c) { c.stack_cache = (1u << 20) + 1; },
         "stack_cache = 1048577 is invalid"},
        {"local_queue_size 0", [](auto& c) { c.local_queue_size = 0; },
         "local_queue_size = 0 is invalid (must be a power of two in 2..1048576)"},
        {"local_queue_size 1", [](auto& c) { c.local_queue_size = 1; },
         "local_queue_size = 1 is invalid"},
        {"local_queue_size 3", [](auto& c) { c.local_queue_size = 3; },
         "local_queue_size = 3 is invalid"},
        {"local_queue_size 1<<21", [](auto& c) { c.local_queue_size = 1u << 21; },
         "local_queue_size = 2097152 is invalid"},
        {"global_queue_interval 0", [](auto& c) { c.global_queue_interval = 0; },
         "global_queue_interval = 0 is invalid (must be 1..4294967295)"},
        {"steal_attempts 65", [](auto& c) { c.steal_attempts = 65; },
         "steal_attempts = 65 is invalid (must be 0..64)"},
        {"blocking_threads 0", [](auto& c) { c.blocking_threads = 0; },
         "blocking_threads = 0 is invalid (must be 1..10000)"},
        {"blocking_threads 10001", [](auto& c) { c.blocking_threads = 10001; },
         "blocking_threads = 10001 is invalid"},
        {"blocking_keep_alive_ms 0", [](auto& c) { c.blocking_keep_alive_ms = 0; },
         "blocking_keep_alive_ms = 0 is invalid (must be 1..4294967295)"},
        {"blocking_queue_limit 0", [](auto& c) { c.blocking_queue_limit = 0; },
         "blocking_queue_limit = 0 is invalid (must be 1..1073741824)"},
        {"cpu_threads 1025", [](auto& c) { c.cpu_threads = 1025; },
         "cpu_threads = 1025 is invalid (must be 0..1024)"},
        {"slow_callback_ms 0", [](auto& c) { c.slow_callback_ms = 0; },
         "slow_callback_ms = 0 is invalid (must be 1..4294967295)"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.what);
      weft::Config cfg;
      c.set(cfg);
      CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains(c.expected.c_str()),
                           weft::ConfigError);
    }
  }

  TEST_CASE("validate accepts every boundary value") {
    const std::vector<std::function<void(weft::Config&)>> edges = {
        [](auto& c) { c.workers = 1; },
        [](auto& c) { c.workers = 1024; },
        [](auto& c) { c.stack_size = page_size(); },
        [](auto& c) { c.stack_size = kGiB; },
        [](auto& c) { c.guarded_stacks = 0; },
        [](auto& c) { c.guarded_stacks = std::numeric_limits<std::size_t>::max(); },
        [](auto& c) { c.stack_cache = 0; },
        [](auto& c) { c.stack_cache = 1u << 20; },
        [](auto& c) { c.local_queue_size = 2; },
        [](auto& c) { c.local_queue_size = 1u << 20; },
        [](auto& c) { c.global_queue_interval = 1; },
        [](auto& c) { c.global_queue_interval = std::numeric_limits<unsigned>::max(); },
        [](auto& c) { c.steal_attempts = 0; },
        [](auto& c) { c.steal_attempts = 64; },
        [](auto& c) { c.blocking_threads = 1; },
        [](auto& c) { c.blocking_threads = 10000; },
        [](auto& c) { c.blocking_keep_alive_ms = 1; },
        [](auto& c) { c.blocking_queue_limit = 1; },
        [](auto& c) { c.blocking_queue_limit = 1u << 30; },
        [](auto& c) { c.cpu_threads = 0; },
        [](auto& c) { c.cpu_threads = 1024; },
        [](auto& c) { c.slow_callback_ms = 1; },
        [](auto& c) { c.backend = weft::Backend::io_uring; },
        [](auto& c) { c.pin_workers = c.debug = true; },
    };
    for (std::size_t i = 0; i < edges.size(); ++i) {
      CAPTURE(i);
      weft::Config cfg;
      edges[i](cfg);
      CHECK_NOTHROW(cfg.validate());
    }
  }

  TEST_CASE("from_env with nothing set gives the defaults") {
    CleanEnv env;
    CHECK(same(weft::Config::from_env(), weft::Config{}));
  }

  TEST_CASE("from_env treats an empty variable as unset") {
    CleanEnv env;
    for (const auto& name : kEnvNames) CleanEnv::set(name, "");
    CHECK(same(weft::Config::from_env(), weft::Config{}));
  }

  TEST_CASE("from_env reads every field") {
    CleanEnv env;
    CleanEnv::set("WEFT_WORKERS", "3");
    CleanEnv::set("WEFT_STACK_SIZE", "65536");
    CleanEnv::set("WEFT_GUARDED_STACKS", "18446744073709551615");
    CleanEnv::set("WEFT_GUARD_MARKERS", "off");
    CleanEnv::set("WEFT_STACK_CACHE", "7");
    CleanEnv::set("WEFT_LOCAL_QUEUE_SIZE", "1024");
    CleanEnv::set("WEFT_GLOBAL_QUEUE_INTERVAL", "31");
    CleanEnv::set("WEFT_STEAL_ATTEMPTS", "0");
    CleanEnv::set("WEFT_BACKEND", "io_uring");
    CleanEnv::set("WEFT_BLOCKING_THREADS", "10000");
    CleanEnv::set("WEFT_BLOCKING_KEEP_ALIVE_MS", "250");
    CleanEnv::set("WEFT_BLOCKING_QUEUE_LIMIT", "100");
    CleanEnv::set("WEFT_CPU_THREADS", "5");
    CleanEnv::set("WEFT_PIN_WORKERS", "true");
    CleanEnv::set("WEFT_DEBUG", "1");
    CleanEnv::set("WEFT_SLOW_CALLBACK_MS", "250");
    const weft::Config cfg = weft::Config::from_env();
    CHECK(cfg.workers == 3);
    CHECK(cfg.stack_size == 65536);
    CHECK(cfg.guarded_stacks == std::numeric_limits<std::size_t>::max());
    CHECK_FALSE(cfg.guard_markers);
    CHECK(cfg.stack_cache == 7);
    CHECK(cfg.local_queue_size == 1024);
    CHECK(cfg.global_queue_interval == 31);
    CHECK(cfg.steal_attempts == 0);
    CHECK(cfg.backend == weft::Backend::io_uring);
    CHECK(cfg.blocking_threads == 10000);
    CHECK(cfg.blocking_keep_alive_ms == 250);
    CHECK(cfg.blocking_queue_limit == 100);
    CHECK(cfg.cpu_threads == 5);
    CHECK(cfg.pin_workers);
    CHECK(cfg.debug);
    CHECK(cfg.slow_callback_ms == 250);
  }

  TEST_CASE("from_env leaves the fields it was not given at their defaults") {
    CleanEnv env;
    CleanEnv::set("WEFT_WORKERS", "2");
    weft::Config expected;
    expected.workers = 2;
    CHECK(same(weft::Config::from_env(), expected));
  }

  TEST_CASE("from_env stack_size accepts binary unit suffixes") {
    CleanEnv env;
    const std::vector<std::pair<std::string, std::size_t>> cases = {
        {"256KiB", 256 * kKiB}, {"1MiB", kMiB},         {"64k", 64 * kKiB}, {"4K", 4 * kKiB},
        {"2M", 2 * kMiB},       {"1G", kGiB},           {"1g", kGiB},       {"1GiB", kGiB},
        {"8kib", 8 * kKiB},     {"16KB", 16 * kKiB},    {"3mb", 3 * kMiB},  {"1024", 1024 * 1},
        {"1gb", kGiB},          {"512KIB", 512 * kKiB},
    };
    for (const auto& c : cases) {
      CAPTURE(c.first);
      if (c.second < page_size()) continue;  // a 1024-byte stack is valid only with 1 KiB pages
      CleanEnv::set("WEFT_STACK_SIZE", c.first);
      CHECK(weft::Config::from_env().stack_size == c.second);
    }
  }

  TEST_CASE("from_env stack_size rejects malformed sizes, naming variable and value") {
    CleanEnv env;
    for (const std::string text :
         {"1T", "KiB", "K", "1.5M", "2Gi", "2iB", "1 K", " 4K", "4K ", "-4K", "+4K", "4KK",
          "0x1000", "4Kib2", "abc", "99999999999999999999", "99999999999999999999K",
          "17179869184G"}) {
      check_env_error("WEFT_STACK_SIZE", text, "is not a size");
    }
  }

  TEST_CASE("from_env stack_size range errors name the variable and value") {
    CleanEnv env;
    check_env_error("WEFT_STACK_SIZE", "2G",
                    "is invalid (must be " + std::to_string(page_size()) + "..1073741824)");
    check_env_error("WEFT_STACK_SIZE", "0", "is invalid");
    check_env_error("WEFT_STACK_SIZE", "0K", "is invalid");
    CleanEnv::clear();
    CleanEnv::set("WEFT_STACK_SIZE", "1G");
    CHECK(weft::Config::from_env().stack_size == kGiB);
  }

  TEST_CASE("from_env parses booleans case-insensitively") {
    CleanEnv env;
    for (const std::string yes : {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"}) {
      CAPTURE(yes);
      CleanEnv::set("WEFT_DEBUG", yes);
      CleanEnv::set("WEFT_PIN_WORKERS", yes);
      const weft::Config cfg = weft::Config::from_env();
      CHECK(cfg.debug);
      CHECK(cfg.pin_workers);
    }
    for (const std::string no : {"0", "false", "FALSE", "no", "No", "off", "OFF"}) {
      CAPTURE(no);
      CleanEnv::set("WEFT_DEBUG", no);
      CleanEnv::set("WEFT_PIN_WORKERS", no);
      const weft::Config cfg = weft::Config::from_env();
      CHECK_FALSE(cfg.debug);
      CHECK_FALSE(cfg.pin_workers);
    }
  }

  TEST_CASE("from_env rejects a bad boolean, naming variable and value") {
    CleanEnv env;
    for (const std::string text : {"2", "maybe", "y", "n", "tru", "truex", " true", "-1"}) {
      check_env_error("WEFT_DEBUG", text, "is not a boolean");
      check_env_error("WEFT_PIN_WORKERS", text, "is not a boolean");
    }
  }

  TEST_CASE("from_env parses the backend") {
    CleanEnv env;
    CleanEnv::set("WEFT_BACKEND", "epoll");
    CHECK(weft::Config::from_env().backend == weft::Backend::epoll);
    CleanEnv::set("WEFT_BACKEND", "io_uring");
    CHECK(weft::Config::from_env().backend == weft::Backend::io_uring);
    CleanEnv::set("WEFT_BACKEND", "uring");
    CHECK(weft::Config::from_env().backend == weft::Backend::io_uring);
    CleanEnv::set("WEFT_BACKEND", "EPOLL");
    CHECK(weft::Config::from_env().backend == weft::Backend::epoll);
    for (const std::string text : {"kqueue", "io-uring", "epoll ", "0"}) {
      check_env_error("WEFT_BACKEND", text, "is not a backend");
    }
  }

  TEST_CASE("from_env rejects malformed numbers in every numeric field") {
    CleanEnv env;
    const std::vector<std::string> numeric = {
        "WEFT_WORKERS",          "WEFT_GUARDED_STACKS",        "WEFT_STACK_CACHE",
        "WEFT_LOCAL_QUEUE_SIZE", "WEFT_GLOBAL_QUEUE_INTERVAL", "WEFT_STEAL_ATTEMPTS",
        "WEFT_BLOCKING_THREADS", "WEFT_CPU_THREADS",           "WEFT_SLOW_CALLBACK_MS",
    };
    for (const auto& name : numeric) {
      for (const std::string text :
           {"abc", "12x", "-1", " 3", "3 ", "+3", "0x10", "1.0", "4K", "18446744073709551616"}) {
        check_env_error(name, text, "is not an unsigned integer");
      }
    }
    // The whole message, exactly.
    CleanEnv::clear();
    CleanEnv::set("WEFT_WORKERS", "abc");
    CHECK_THROWS_WITH_AS((void)weft::Config::from_env(),
                         "weft config: WEFT_WORKERS=abc is not an unsigned integer",
                         weft::ConfigError);
  }

  TEST_CASE("from_env rejects values past an unsigned field's width") {
    CleanEnv env;
    // 2^32 parses as a number but does not fit an unsigned field.
    check_env_error("WEFT_GLOBAL_QUEUE_INTERVAL", "4294967296",
                    "is invalid (must be 1..4294967295)");
    check_env_error("WEFT_SLOW_CALLBACK_MS", "99999999999", "is invalid");
    CleanEnv::clear();
    CleanEnv::set("WEFT_GLOBAL_QUEUE_INTERVAL", "4294967295");
    CHECK(weft::Config::from_env().global_queue_interval == 4294967295u);
  }

  TEST_CASE("from_env range errors name the variable, not the field") {
    CleanEnv env;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"WEFT_WORKERS", "0"},           {"WEFT_WORKERS", "1025"},
        {"WEFT_STACK_CACHE", "1048577"}, {"WEFT_LOCAL_QUEUE_SIZE", "100"},
        {"WEFT_LOCAL_QUEUE_SIZE", "1"},  {"WEFT_GLOBAL_QUEUE_INTERVAL", "0"},
        {"WEFT_STEAL_ATTEMPTS", "65"},   {"WEFT_BLOCKING_THREADS", "0"},
        {"WEFT_CPU_THREADS", "2000"},    {"WEFT_SLOW_CALLBACK_MS", "0"},
    };
    for (const auto& c : cases) check_env_error(c.first, c.second, "is invalid");
  }

  TEST_CASE("from_toml reads every field") {
    const weft::Config cfg = weft::Config::from_toml(R"(
      workers = 4
      stack_size = "256KiB"
      guarded_stacks = 100
      guard_markers = false
      stack_cache = 0
      local_queue_size = 512
      global_queue_interval = 7
      steal_attempts = 64
      backend = "io_uring"
      blocking_threads = 8
      blocking_keep_alive_ms = 50
      blocking_queue_limit = 16
      cpu_threads = 2
      pin_workers = true
      debug = true
      slow_callback_ms = 5   # a comment
    )");
    CHECK(cfg.workers == 4);
    CHECK(cfg.stack_size == 256 * kKiB);
    CHECK(cfg.guarded_stacks == 100);
    CHECK_FALSE(cfg.guard_markers);
    CHECK(cfg.stack_cache == 0);
    CHECK(cfg.local_queue_size == 512);
    CHECK(cfg.global_queue_interval == 7);
    CHECK(cfg.steal_attempts == 64);
    CHECK(cfg.backend == weft::Backend::io_uring);
    CHECK(cfg.blocking_threads == 8);
    CHECK(cfg.blocking_keep_alive_ms == 50);
    CHECK(cfg.blocking_queue_limit == 16);
    CHECK(cfg.cpu_threads == 2);
    CHECK(cfg.pin_workers);
    CHECK(cfg.debug);
    CHECK(cfg.slow_callback_ms == 5);
  }

  TEST_CASE("from_toml: empty text gives the defaults, absent keys keep theirs") {
    CHECK(same(weft::Config::from_toml(""), weft::Config{}));
    weft::Config expected;
    expected.stack_size = 262144;
    expected.backend = weft::Backend::epoll;
    CHECK(same(weft::Config::from_toml("stack_size = 262144\nbackend = \"epoll\"\n"), expected));
    CHECK(weft::Config::from_toml("stack_size = \"1M\"").stack_size == kMiB);
    CHECK(weft::Config::from_toml("stack_size = \"65536\"").stack_size == 65536);
    CHECK(weft::Config::from_toml("backend = \"uring\"").backend == weft::Backend::io_uring);
    // Any TOML integer spelling works; the message keeps the user's spelling.
    CHECK(weft::Config::from_toml("workers = 0x10").workers == 16);
    CHECK(weft::Config::from_toml("stack_size = 0x1_0000").stack_size == 65536);
    CHECK(toml_error("workers = 0x800") ==
          "weft config test.toml: workers = 0x800 is invalid (must be 1..1024)");
    CHECK(
        toml_error("debug = 'on'") ==
        "weft config test.toml: debug = \"on\" is not a boolean (1/0, true/false, yes/no, on/off)");
    CHECK_FALSE(weft::Config::from_toml("debug = false").debug);
  }

  TEST_CASE("from_toml ignores the environment") {
    CleanEnv env;
    CleanEnv::set("WEFT_WORKERS", "abc");
    CHECK(weft::Config::from_toml("workers = 2").workers == 2);
  }

  TEST_CASE("from_toml rejects a value of the wrong type, naming key and value") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {R"(workers = "four")",
         R"(weft config test.toml: workers = "four" is not an unsigned integer)"},
        {R"(workers = "4")", R"(workers = "4" is not an unsigned integer)"},
        {"workers = -1", "weft config test.toml: workers = -1 is not an unsigned integer"},
        {"workers = 4.0", "workers = 4.0 is not an unsigned integer"},
        {"workers = true", "workers = true is not an unsigned integer"},
        {"workers = [1, 2]", "workers = [ 1, 2 ] is not an unsigned integer"},
        {"workers = { a = 1 }", "workers = { a = 1 } is not an unsigned integer"},
        {"steal_attempts = 1979-05-27", "steal_attempts = 1979-05-27 is not an unsigned integer"},
        {"guarded_stacks = -5", "guarded_stacks = -5 is not an unsigned integer"},
        {"stack_size = -4096", "stack_size = -4096 is not a size"},
        {R"(stack_size = "lots")", R"(stack_size = "lots" is not a size)"},
        {"stack_size = 1.5", "stack_size = 1.5 is not a size"},
        {"debug = 3", "weft config test.toml: debug = 3 is not a boolean"},
        {"debug = 1", "debug = 1 is not a boolean"},
        {R"(debug = "true")", R"(debug = "true" is not a boolean)"},
        {R"(pin_workers = "yes")", R"(pin_workers = "yes" is not a boolean)"},
        {"backend = 1", "weft config test.toml: backend = 1 is not a backend"},
        {R"(backend = "kqueue")", R"(backend = "kqueue" is not a backend)"},
        {"backend = true", "backend = true is not a backend"},
    };
    for (const auto& c : cases) {
      CAPTURE(c.first);
      CHECK_THROWS_WITH_AS((void)weft::Config::from_toml(c.first, "test.toml"),
                           doctest::Contains(c.second.c_str()), weft::ConfigError);
    }
  }

  TEST_CASE("from_toml range errors name the file, key and value") {
    CHECK(toml_error("workers = 0") ==
          "weft config test.toml: workers = 0 is invalid (must be 1..1024)");
    CHECK(toml_error("local_queue_size = 100") ==
          "weft config test.toml: local_queue_size = 100 is invalid (must be a power of two in "
          "2..1048576)");
    CHECK(contains(toml_error(R"(stack_size = "2GiB")"),
                   R"(weft config test.toml: stack_size = "2GiB" is invalid)"));
    CHECK(
        contains(toml_error("stack_size = 2"), "weft config test.toml: stack_size = 2 is invalid"));
    CHECK(toml_error("slow_callback_ms = 4294967296") ==
          "weft config test.toml: slow_callback_ms = 4294967296 is invalid (must be "
          "1..4294967295)");
  }

  TEST_CASE("from_toml rejects an unknown key") {
    CHECK(toml_error("workers = 2\nwrokers = 4\n") ==
          "weft config test.toml: unknown key 'wrokers'");
    CHECK(toml_error("[server]\nworkers = 2\n") == "weft config test.toml: unknown key 'server'");
    CHECK(toml_error("Workers = 2") == "weft config test.toml: unknown key 'Workers'");
    CHECK_THROWS_WITH_AS((void)weft::Config::from_toml("x = 1"),
                         "weft config <string>: unknown key 'x'", weft::ConfigError);
  }

  TEST_CASE("from_toml reports a syntax error with the file name and line") {
    const std::string message = toml_error("workers = 2\nstack_size = \n", "bad.toml");
    const std::string head = "weft config bad.toml: syntax error at line 2, column ";
    REQUIRE(message.starts_with(head));
    // After the column number comes ": " and toml++'s own, non-empty description.
    const std::size_t colon = message.find(": ", head.size());
    REQUIRE(colon != std::string::npos);
    CHECK(message.size() > colon + 2);
    // The description says what is wrong, here by naming the duplicated key.
    const std::string duplicate = toml_error("workers = 2\nworkers = 3\n");
    CHECK(duplicate.starts_with("weft config test.toml: syntax error at line 2, column "));
    CHECK(contains(duplicate, "'workers'"));
    CHECK(toml_error("workers = \"unterminated")
              .starts_with("weft config test.toml: syntax error at line 1, column "));
  }

  TEST_CASE("from_file reads a TOML file") {
    const TempFile file("# weft settings\nworkers = 3\nstack_size = \"1MiB\"\ndebug = true\n");
    const weft::Config cfg = weft::Config::from_file(file.path);
    CHECK(cfg.workers == 3);
    CHECK(cfg.stack_size == kMiB);
    CHECK(cfg.debug);
    CHECK(cfg.backend == weft::Backend::epoll);
  }

  TEST_CASE("from_file names the file in errors from its contents") {
    const TempFile unknown("wrokers = 4\n");
    CHECK(config_error([&] { (void)weft::Config::from_file(unknown.path); }) ==
          "weft config " + unknown.path + ": unknown key 'wrokers'");
    const TempFile broken("workers = 4\n\nworkers = = 5\n");
    const std::string message = config_error([&] { (void)weft::Config::from_file(broken.path); });
    CHECK(message.starts_with("weft config " + broken.path + ": syntax error at line 3, column "));
  }

  TEST_CASE("from_file reports a missing or unreadable path with strerror") {
    const std::string missing = "/nonexistent/weft/config.toml";
    CHECK(config_error([&] { (void)weft::Config::from_file(missing); }) ==
          "weft config " + missing + ": cannot read: No such file or directory");
    CHECK(config_error([] { (void)weft::Config::from_file("/tmp"); }) ==
          "weft config /tmp: cannot read: Is a directory");
  }
}
