// Config loading and validation. Every field is described once, in fields(): its name, the
// member it sets and the values it accepts. validate(), from_env() and from_toml() all walk
// that one table, so a new field is one new line and the three can never disagree.
#include "weft/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include <toml++/toml.h>

namespace weft {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = kKiB * 1024;
constexpr std::uint64_t kGiB = kMiB * 1024;
constexpr unsigned kMaxThreads = 1024;

// The values a numeric field accepts (its type's own maximum applies on top of max).
struct Range {
  std::uint64_t min = 0;
  std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  bool power_of_two = false;
};

using Member =
    std::variant<unsigned Config::*, std::size_t Config::*, bool Config::*, Backend Config::*>;

struct Field {
  std::string_view name;
  Member member;
  Range range{};       // numeric fields only
  bool bytes = false;  // a size, so "256KiB" is accepted as well as 262144
};

template <class T>
concept Number = std::unsigned_integral<T> && !std::same_as<T, bool>;

const std::array<Field, 16>& fields() {
  // Built on first use because the smallest stack is the page size, known only at run time.
  static const std::array<Field, 16> table{{
      {.name = "workers", .member = &Config::workers, .range = {.min = 1, .max = kMaxThreads}},
      {.name = "stack_size",
       .member = &Config::stack_size,
       .range = {.min = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)), .max = kGiB},
       .bytes = true},
      {.name = "guarded_stacks", .member = &Config::guarded_stacks},
      {.name = "guard_markers", .member = &Config::guard_markers},
      {.name = "stack_cache", .member = &Config::stack_cache, .range = {.max = 1u << 20}},
      {.name = "local_queue_size",
       .member = &Config::local_queue_size,
       .range = {.min = 2, .max = 1u << 20, .power_of_two = true}},
      {.name = "global_queue_interval",
       .member = &Config::global_queue_interval,
       .range = {.min = 1}},
      {.name = "steal_attempts", .member = &Config::steal_attempts, .range = {.max = 64}},
      {.name = "backend", .member = &Config::backend},
      {.name = "blocking_threads",
       .member = &Config::blocking_threads,
       .range = {.min = 1, .max = 10000}},
      {.name = "blocking_keep_alive_ms",
       .member = &Config::blocking_keep_alive_ms,
       .range = {.min = 1}},
      {.name = "blocking_queue_limit",
       .member = &Config::blocking_queue_limit,
       .range = {.min = 1, .max = 1u << 30}},
      {.name = "cpu_threads", .member = &Config::cpu_threads, .range = {.max = kMaxThreads}},
      {.name = "pin_workers", .member = &Config::pin_workers},
      {.name = "debug", .member = &Config::debug},
      {.name = "slow_callback_ms", .member = &Config::slow_callback_ms, .range = {.min = 1}},
  }};
  return table;
}

const Field* find_field(std::string_view name) {
  const auto& table = fields();
  const auto it = std::ranges::find(table, name, &Field::name);
  return it == table.end() ? nullptr : &*it;
}

// The type a Member alternative points at: unsigned for `unsigned Config::*`, and so on.
template <class T>
using FieldType = std::remove_cvref_t<decltype(std::declval<Config&>().*std::declval<T>())>;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

template <Number T>
bool in_range(const Field& f, std::uint64_t v) {
  return v >= f.range.min && v <= f.range.max && v <= std::numeric_limits<T>::max() &&
         (!f.range.power_of_two || std::has_single_bit(v));
}

template <Number T>
std::string describe_range(const Field& f) {
  const std::uint64_t max = std::min<std::uint64_t>(f.range.max, std::numeric_limits<T>::max());
  if (f.range.power_of_two) {
    return "a power of two in " + std::to_string(f.range.min) + ".." + std::to_string(max);
  }
  // Only a 64-bit field can be unbounded above; a narrower one states its width.
  if (max == std::numeric_limits<std::uint64_t>::max()) {
    return "at least " + std::to_string(f.range.min);
  }
  return std::to_string(f.range.min) + ".." + std::to_string(max);
}

// from_chars alone would take "12x" as 12, so the whole text must be consumed. It already
// rejects a sign, leading spaces and values that overflow.
std::optional<std::uint64_t> parse_uint(std::string_view text) {
  std::uint64_t v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return v;
}

// "256KiB", "64k", "2M", "1G": binary multiples, case-insensitive, with an optional "iB"/"B".
std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  const std::size_t digits = text.find_first_not_of("0123456789");
  if (digits == std::string_view::npos) return parse_uint(text);
  const std::optional<std::uint64_t> count = parse_uint(text.substr(0, digits));
  const std::string unit = lower(text.substr(digits));
  std::uint64_t scale = 0;
  switch (unit.front()) {
    case 'k':
      scale = kKiB;
      break;
    case 'm':
      scale = kMiB;
      break;
    case 'g':
      scale = kGiB;
      break;
  }
  const std::string_view rest = std::string_view(unit).substr(1);
  if (!count || scale == 0 || !(rest.empty() || rest == "ib" || rest == "b")) return std::nullopt;
  if (*count > std::numeric_limits<std::uint64_t>::max() / scale) return std::nullopt;
  return *count * scale;
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string word = lower(text);
  if (word == "1" || word == "true" || word == "yes" || word == "on") return true;
  if (word == "0" || word == "false" || word == "no" || word == "off") return false;
  return std::nullopt;
}

std::optional<Backend> parse_backend(std::string_view text) {
  const std::string word = lower(text);
  if (word == "epoll") return Backend::epoll;
  if (word == "io_uring" || word == "uring") return Backend::io_uring;
  return std::nullopt;
}

// How a value arrived. Environment text may spell any type; a TOML value already has one,
// and `workers = "4"` is a string where a number belongs, not a number.
enum class Syntax { text, toml_string, toml_integer, toml_boolean, toml_other };

// Parses one value into the field's type, or throws a ConfigError that starts with subject
// (the key and the value as the user wrote them, e.g. "weft config: WEFT_WORKERS=abc").
template <class T>
T parse_field(const Field& f, Syntax syntax, std::string_view text, const std::string& subject) {
  const bool untyped = syntax == Syntax::text;
  const auto fail = [&](std::string_view expected) {
    return ConfigError(subject + " is not " + std::string(expected));
  };
  if constexpr (std::is_same_v<T, bool>) {
    const auto value = untyped || syntax == Syntax::toml_boolean ? parse_bool(text) : std::nullopt;
    if (!value) throw fail("a boolean (1/0, true/false, yes/no, on/off)");
    return *value;
  } else if constexpr (std::is_same_v<T, Backend>) {
    const auto value =
        untyped || syntax == Syntax::toml_string ? parse_backend(text) : std::nullopt;
    if (!value) throw fail("a backend (epoll or io_uring)");
    return *value;
  } else {
    std::optional<std::uint64_t> value;
    if (f.bytes && (untyped || syntax == Syntax::toml_string)) {
      value = parse_bytes(text);
    } else if (untyped || syntax == Syntax::toml_integer) {
      value = parse_uint(text);
    }
    if (!value) {
      throw fail(f.bytes ? "a size (bytes, or a number with a K/M/G or KiB/MiB/GiB suffix)"
                         : "an unsigned integer");
    }
    if (!in_range<T>(f, *value)) {
      throw ConfigError(subject + " is invalid (must be " + describe_range<T>(f) + ")");
    }
    return static_cast<T>(*value);
  }
}

void assign(Config& cfg, const Field& f, Syntax syntax, std::string_view text,
            const std::string& subject) {
  std::visit(
      [&](auto member) {
        cfg.*member = parse_field<FieldType<decltype(member)>>(f, syntax, text, subject);
      },
      f.member);
}

std::string env_name(std::string_view field) {
  std::string name = "WEFT_";
  for (char c : field) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

struct TomlValue {
  Syntax syntax;
  std::string text;   // what the parsers read: a string's contents, anything else as TOML
  std::string shown;  // as written in TOML, so messages read `workers = "four"`, quotes and all
};

TomlValue toml_value(const toml::node& node) {
  // Double-quoted, one-line strings: how people write them, whatever toml++ would prefer.
  constexpr auto flags =
      toml::toml_formatter::default_flags &
      ~(toml::format_flags::allow_literal_strings | toml::format_flags::allow_multi_line_strings);
  std::ostringstream out;
  out << toml::toml_formatter(node, flags);
  std::string shown = out.str();
  if (const auto* s = node.as_string()) return {Syntax::toml_string, s->get(), std::move(shown)};
  // Decimal text, since `workers = 0x10` is a fine TOML integer but not a decimal one.
  if (const auto* i = node.as_integer()) {
    return {Syntax::toml_integer, std::to_string(i->get()), std::move(shown)};
  }
  if (const auto* b = node.as_boolean()) {
    return {Syntax::toml_boolean, b->get() ? "true" : "false", std::move(shown)};
  }
  return {Syntax::toml_other, shown, shown};
}

// One top-level `key = value` of a TOML document; prefix is "weft config <name>: ".
void apply_toml(Config& cfg, const std::string& prefix, const std::string& key,
                const toml::node& node) {
  const Field* f = find_field(key);
  if (f == nullptr) throw ConfigError(prefix + "unknown key '" + key + "'");
  const TomlValue value = toml_value(node);
  assign(cfg, *f, value.syntax, value.text, prefix + key + " = " + value.shown);
}

}  // namespace

unsigned Config::default_workers() noexcept {
  // hardware_concurrency() is 0 when unknown; past the limit, defaults would fail validate().
  return std::clamp(std::thread::hardware_concurrency(), 1u, kMaxThreads);
}

std::string_view to_string(Backend backend) noexcept {
  switch (backend) {
    case Backend::epoll:
      return "epoll";
    case Backend::io_uring:
      return "io_uring";
  }
  return "unknown";
}

void Config::validate() const {
  for (const Field& f : fields()) {
    std::visit(
        [&](auto member) {
          using T = FieldType<decltype(member)>;
          if constexpr (Number<T>) {
            const T value = this->*member;
            if (!in_range<T>(f, value)) {
              throw ConfigError("weft config: " + std::string(f.name) + " = " +
                                std::to_string(value) + " is invalid (must be " +
                                describe_range<T>(f) + ")");
            }
          }
        },
        f.member);
  }
}

Config Config::from_env() {
  Config cfg;
  for (const Field& f : fields()) {
    const std::string name = env_name(f.name);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') continue;
    assign(cfg, f, Syntax::text, value, "weft config: " + name + "=" + value);
  }
  cfg.validate();
  return cfg;
}

Config Config::from_toml(std::string_view text, std::string_view name) {
  const std::string prefix = "weft config " + std::string(name) + ": ";
  toml::table table;
  try {
    table = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    const toml::source_position where = e.source().begin;
    throw ConfigError(prefix + "syntax error at line " + std::to_string(where.line) + ", column " +
                      std::to_string(where.column) + ": " + std::string(e.description()));
  }
  Config cfg;
  for (const auto& [key, node] : table) apply_toml(cfg, prefix, std::string(key.str()), node);
  cfg.validate();
  return cfg;
}

Config Config::from_file(const std::string& path) {
  const auto fail = [&](int error) {
    return ConfigError("weft config " + path + ": cannot read: " + std::strerror(error));
  };
  const auto close = [](std::FILE* f) {
    // The unique_ptr below owns f; the check wants gsl::owner<>, which weft does not use.
    std::fclose(f);  // NOLINT(cppcoreguidelines-owning-memory)
  };
  const std::unique_ptr<std::FILE, decltype(close)> file(std::fopen(path.c_str(), "rb"), close);
  if (!file) throw fail(errno);
  std::string text;
  std::array<char, 4096> buffer;
  while (const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get())) {
    text.append(buffer.data(), n);
  }
  // A directory opens fine and fails only here, with EISDIR.
  if (std::ferror(file.get())) throw fail(errno);
  return from_toml(text, path);
}

}  // namespace weft
