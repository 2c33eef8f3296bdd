// The reactor layer: backend choice and fallback, unpark, and stale readiness reports.
#include <doctest/doctest.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>

#include <weft/weft.hpp>

#include "child_process.hpp"
#include "io/io_registry.hpp"
#include "io/reactor.hpp"
#include "net_support.hpp"
#include "runtime_fixture.hpp"
#include "sched/waiter.hpp"

using namespace std::chrono_literals;

namespace {

using weft_test::run_in_child;

// What a container with a seccomp policy against io_uring does: io_uring_setup fails (EPERM).
bool forbid_io_uring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace

TEST_CASE("reactor: the configured backend is the one in use") {
  for (weft::Backend backend : {weft::Backend::epoll, weft::Backend::io_uring}) {
    weft::Config cfg;
    cfg.workers = 2;
    cfg.backend = backend;
    weft::Runtime runtime(cfg);
    CHECK(runtime.backend() == backend);
    // And it really serves I/O and timers.
    CHECK(runtime
              .submit([] {
                weft::Server server = weft::start_server(weft_test::echo_lines, "127.0.0.1", 0);
                auto [reader, writer] = weft::open_connection("127.0.0.1", server.port());
                writer.write("ping\n");
                weft::sleep(1ms);
                return reader.readline();
              })
              .get() == "ping\n");
  }
}

TEST_CASE("reactor: io_uring refused by seccomp falls back to epoll with one warning") {
  auto [status, text] = run_in_child([] {
    if (!forbid_io_uring()) return 10;
    weft::Config cfg;
    cfg.workers = 4;
    cfg.backend = weft::Backend::io_uring;
    weft::Runtime runtime(cfg);
    if (runtime.backend() != weft::Backend::epoll) return 11;
    const bool works = runtime
                           .submit([] {
                             weft::sleep(1ms);
                             return true;
                           })
                           .get();
    return works ? 0 : 12;
  });
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("io_uring is not available") != std::string::npos);
  CHECK(text.find("using epoll") != std::string::npos);
  // One warning per runtime, not one per worker.
  CHECK(text.find("io_uring is not available") == text.rfind("io_uring is not available"));
}

TEST_CASE("reactor: unpark before or during park makes it return, on both backends") {
  for (weft::Backend backend : {weft::Backend::epoll, weft::Backend::io_uring}) {
    CAPTURE(weft::to_string(backend));
    weft::io::IoRegistry registry;
    std::string warning;
    auto reactor = weft::io::make_reactor(backend, registry, warning);
    reactor->bind_owner();
    reactor->unpark();
    const auto start = std::chrono::steady_clock::now();
    reactor->park(-1);  // returns at once: the unpark came first
    std::thread waker([&] {
      std::this_thread::sleep_for(20ms);
      reactor->unpark();
    });
    reactor->park(-1);
    waker.join();
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    // A timeout alone ends a park too (a park may also return early, spuriously: timers look at
    // the clock, not at how the park ended).
    const auto before = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - before < 3ms) reactor->park(1'000'000);
    CHECK(std::chrono::steady_clock::now() - before < 1s);
  }
}

TEST_CASE("reactor: readiness for a stale generation is ignored, a fresh one is kept") {
  weft::io::IoRegistry registry;
  weft::io::IoSlot& slot = registry.acquire(100);
  const std::uint64_t old_key = weft::io::key_of(slot.index, slot.generation);
  registry.close(slot);
  weft::io::IoSlot& reused = registry.acquire(100);  // the same slot, a new generation
  CHECK(&reused == &slot);
  registry.deliver(old_key, weft::io::kReadable);
  CHECK(reused.ready == 0);
  CHECK(registry.fd_of(old_key) == -1);
  const std::uint64_t key = weft::io::key_of(reused.index, reused.generation);
  registry.deliver(key, weft::io::kReadable);
  CHECK(reused.ready == weft::io::kReadable);
  CHECK(registry.fd_of(key) == 100);
  registry.close(reused);
}
