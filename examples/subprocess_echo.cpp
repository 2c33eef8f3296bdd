// asyncio.create_subprocess_exec: talk to a child through its pipes, line by line, then let
// communicate() do the rest; several children run at once.
//
//   async def main():
//       cat = await asyncio.create_subprocess_exec(
//           "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
//       for word in ["one", "two", "three"]:
//           cat.stdin.write(f"{word}\n".encode())
//           await cat.stdin.drain()
//           print("echoed:", (await cat.stdout.readline()).decode().strip())
//       out, _ = await cat.communicate(b"last\n")
//       print("rest:", out.decode().strip(), "exit code:", cat.returncode)
//
//       async def shout(word):
//           p = await asyncio.create_subprocess_shell(
//               f"echo {word} | tr a-z A-Z", stdout=asyncio.subprocess.PIPE)
//           return (await p.communicate())[0].decode().strip()
//       print("shouted:", " ".join(await asyncio.gather(*(shout(w) for w in ["a", "b", "c"]))))
//
//   asyncio.run(main())
#include <cstdio>
#include <string>
#include <vector>

#include <weft/process.hpp>
#include <weft/weft.hpp>

int main() {
  return weft::run([] {
    weft::Process cat =
        weft::create_subprocess_exec({"cat"}, {.stdin_ = weft::Pipe, .stdout_ = weft::Pipe});
    for (const char* word : {"one", "two", "three"}) {
      cat.stdin_pipe().write(std::string(word) + "\n");
      cat.stdin_pipe().drain();
      std::string line = cat.stdout_pipe().readline();
      line.pop_back();
      std::printf("echoed: %s\n", line.c_str());
    }
    // Writes the input, closes cat's stdin (so it exits), reads what is left, waits.
    auto [out, err] = cat.communicate("last\n");
    out.pop_back();
    std::printf("rest: %s exit code: %d\n", out.c_str(), *cat.returncode());

    // Three children at once, one fiber each.
    std::vector<weft::Task<std::string>> shouts;
    for (const char* word : {"a", "b", "c"})
      shouts.push_back(weft::spawn([word] {
        weft::Process p = weft::create_subprocess_shell(
            "echo " + std::string(word) + " | tr a-z A-Z", {.stdout_ = weft::Pipe});
        std::string shouted = p.communicate().out;
        shouted.pop_back();
        return shouted;
      }));
    std::string all;
    for (auto& shout : shouts) all += shout.get() + " ";
    std::printf("shouted: %s\n", all.c_str());
    return 0;
  });
}
