// weft::File: reads and writes at offsets from fibers, through io_uring or the blocking pool
// (this suite also runs with WEFT_BACKEND=io_uring), errors naming the path, cancellation.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "net_support.hpp"
#include "runtime/runtime_core.hpp"
#include "runtime_fixture.hpp"

using namespace std::chrono_literals;
using weft_test::in_runtimes;
using weft_test::TempDir;

namespace {

std::string pattern_bytes(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 31 + static_cast<std::size_t>(seed)) % 251);
  return s;
}

}  // namespace

TEST_CASE("File: write_file and read_file round trip, size, offsets, sequential use") {
  TempDir dir;
  in_runtimes([&] {
    const std::string path = dir / "a.txt";
    weft::write_file(path, "hello, world\n");
    CHECK(weft::read_file(path) == "hello, world\n");

    weft::File file = weft::File::open(path, weft::OpenMode::read_write);
    CHECK(file.is_open());
    CHECK(file.path() == path);
    CHECK(file.size() == 13);
    CHECK(file.read_at(7, 5) == "world");
    CHECK(file.read_at(7, 100) == "world\n");  // short at the end
    CHECK(file.read_at(100, 10).empty());      // past the end
    file.write_at(0, "HELLO");
    CHECK(file.read_at(0, 13) == "HELLO, world\n");
    file.write_at(20, "gap");  // beyond the end: a hole of zeros before it
    CHECK(file.size() == 23);
    CHECK(file.read_at(13, 10) == std::string(7, '\0') + "gap");
    CHECK(file.read(5) == "HELLO");  // sequential reads start at 0 and advance
    CHECK(file.read(2) == ", ");
    file.fsync();
    file.close();
    CHECK_FALSE(file.is_open());
    file.close();  // idempotent

    std::filesystem::remove(dir / "log");  // the body runs once per worker count
    weft::File log = weft::File::open(dir / "log", weft::OpenMode::append);
    log.write("one\n");
    log.write_at(0, "two\n");  // append mode: the offset does not matter
    log.close();
    CHECK(weft::read_file(dir / "log") == "one\ntwo\n");

    weft::File truncated = weft::File::open(path, weft::OpenMode::write);
    CHECK(truncated.size() == 0);
  });
}

TEST_CASE("File: a large file is read and written whole") {
  TempDir dir;
  in_runtimes([&] {
    const std::string data = pattern_bytes(8 * 1024 * 1024 + 123, 5);
    weft::write_file(dir / "big", data);
    CHECK(weft::read_file(dir / "big") == data);
  });
}

TEST_CASE("File: read_all reads a file whose size says nothing (/proc) to its end") {
  in_runtimes([] {
    // st_size is 0 here: read_all goes by chunks until a read comes back short.
    const std::string status = weft::read_file("/proc/self/status");
    CHECK(status.starts_with("Name:"));
    CHECK(status.ends_with("\n"));
    CHECK(status.find("\nPid:") != std::string::npos);
  });
}

TEST_CASE("File: errors name the path and the errno text") {
  TempDir dir;
  in_runtimes([&] {
    const std::string missing = dir / "missing.txt";
    CHECK_THROWS_WITH_AS(
        (void)weft::File::open(missing),
        doctest::Contains(("opening '" + missing + "': No such file or directory").c_str()),
        weft::FileNotFoundError);
    CHECK_THROWS_WITH_AS((void)weft::File::open(dir.path().string(), weft::OpenMode::write),
                         doctest::Contains("Is a directory"), weft::OSError);
    weft::write_file(dir / "ro", "x");
    weft::File read_only = weft::File::open(dir / "ro");
    CHECK_THROWS_WITH_AS(read_only.write_at(0, "y"),
                         doctest::Contains(("writing '" + (dir / "ro") + "'").c_str()),
                         weft::OSError);
    read_only.close();
    try {
      (void)read_only.read_at(0, 1);
      FAIL("reading a closed file must throw");
    } catch (const weft::OSError& error) {
      CHECK(error.code().value() == EBADF);
      CHECK(std::string(error.what()).find("closed") != std::string::npos);
    }
  });
}

TEST_CASE("File: many fibers read and write their own files at once") {
  TempDir dir;
  in_runtimes([&] {
    std::vector<weft::Task<bool>> tasks;
    for (int i = 0; i < 64; ++i)
      tasks.push_back(weft::spawn([&dir, i] {
        const std::string path = dir / std::to_string(i);
        const std::string data = pattern_bytes(10'000 + static_cast<std::size_t>(i) * 100, i);
        weft::File file = weft::File::open(path, weft::OpenMode::read_write);
        for (std::size_t off = 0; off < data.size(); off += 4096)
          file.write_at(off, std::string_view(data).substr(off, 4096));
        file.fsync();
        const bool ok = file.read_all() == data;
        file.close();
        return ok;
      }));
    for (auto& task : tasks) CHECK(task.get());
  });
}

TEST_CASE("File: with io_uring the calls go to the ring, with epoll to the blocking pool") {
  TempDir dir;
  weft::Config config = weft_test::base_config();  // the backend from WEFT_BACKEND
  config.workers = 2;
  weft::Runtime runtime(config);
  INFO("backend: " << weft::to_string(runtime.backend()));
  runtime.submit([&] { weft::write_file(dir / "x", "data"); }).get();
  const std::size_t pool_threads = runtime.core().blocking_pool().threads();
  if (runtime.backend() == weft::Backend::io_uring)
    CHECK(pool_threads == 0);
  else
    CHECK(pool_threads >= 1);
}

TEST_CASE("File: a cancel during a write lets the write finish, then is delivered") {
  TempDir dir;
  in_runtimes([&] {
    // Not the file an earlier worker count wrote in full: this run's own, or none if the
    // cancel came before the writer opened it.
    std::filesystem::remove(dir / "c");
    const std::string data = pattern_bytes(4 * 1024 * 1024, 9);
    std::atomic<bool> written{false};
    weft::Task<void> writer = weft::spawn([&] {
      weft::File file = weft::File::open(dir / "c", weft::OpenMode::write);
      file.write_at(0, data);
      written = true;
      weft::sleep(1h);  // the pending cancel lands here at the latest
    });
    weft::yield_now();
    writer.cancel();
    CHECK_THROWS_AS(writer.get(), weft::CancelledError);
    // Whatever write_at call was under way when the cancel came finished first: the file is
    // a prefix of the data in whole requests, and complete if the writer got past it.
    const std::string on_disk =
        std::filesystem::exists(dir / "c") ? weft::read_file(dir / "c") : std::string();
    CHECK(data.compare(0, on_disk.size(), on_disk) == 0);
    if (written) CHECK(on_disk.size() == data.size());
  });
}

TEST_CASE("File: a fiber that only does file I/O can be cancelled and timed out") {
  TempDir dir;
  in_runtimes([&] {
    weft::write_file(dir / "r", pattern_bytes(4096, 1));
    std::atomic<bool> started{false};
    weft::Task<long> reader = weft::spawn([&] {
      weft::File file = weft::File::open(dir / "r");
      long calls = 0;
      for (;;) {  // never suspends except inside the file calls
        (void)file.read_at(0, 4096);
        ++calls;
        started = true;
      }
      return calls;
    });
    while (!started.load()) weft::sleep(100us);
    reader.cancel();
    CHECK_THROWS_AS((void)weft::wait_for(5s, reader), weft::CancelledError);

    const auto begin = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(weft::timeout(50ms,
                                  [&] {
                                    weft::File file = weft::File::open(dir / "r");
                                    for (;;) (void)file.read_at(0, 4096);
                                  }),
                    weft::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - begin < 5s);
  });
}

TEST_CASE("File calls outside a fiber are a logic_error") {
  CHECK_THROWS_AS((void)weft::File::open("/etc/hostname"), std::logic_error);
}
