#include <weft/weft.hpp>

int main() {
  weft::Config cfg;
  cfg.workers = 2;
  return weft::run(cfg, [] { return weft::spawn([] { return 40; }).get() + 2; }) == 42 ? 0 : 1;
}
