#include "controller/secret_template.h"

#include <algorithm>
#include <optional>

namespace sto::controller {
namespace {

// Walks a template: literal runs go to `literal`, placeholders to `field`;
// the error text when it is not valid.
template <typename Literal, typename Field>
std::string walk(std::string_view text, Literal&& literal, Field&& field) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t dollar = text.find('$', i);
    if (dollar == std::string_view::npos) {
      literal(text.substr(i));
      break;
    }
    literal(text.substr(i, dollar - i));
    std::string_view rest = text.substr(dollar);
    if (rest.starts_with("$${")) {
      literal("${");
      i = dollar + 3;
    } else if (rest.starts_with("${")) {
      const std::size_t close = rest.find('}');
      if (close == std::string_view::npos) return "unterminated placeholder \"${\" (write $${ for a literal ${)";
      std::string_view name = rest.substr(2, close - 2);
      if (!field(name)) {
        std::string shown;
        for (unsigned char c : name.substr(0, 64)) shown += c >= 0x20 && c < 0x7f ? char(c) : '?';
        return "unknown placeholder \"${" + shown +
               "}\" (known: ${token} ${url} ${teamID} ${instanceID} ${region}; write $${ for a "
               "literal ${)";
      }
      i = dollar + close + 1;
    } else {
      literal("$");
      i = dollar + 1;
    }
  }
  return {};
}

std::optional<std::string_view> value_of(std::string_view name, const TemplateValues& v) {
  if (name == "token") return v.token;
  if (name == "url") return v.url;
  if (name == "teamID") return v.team_id;
  if (name == "instanceID") return v.instance_id;
  if (name == "region") return v.region;
  return std::nullopt;
}

bool is_data_key(std::string_view k) {
  return !k.empty() && k.size() <= 253 && std::all_of(k.begin(), k.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

std::string check_template(std::string_view text) {
  const TemplateValues none;
  return walk(text, [](std::string_view) {}, [&](std::string_view name) {
    return value_of(name, none).has_value();
  });
}

bool uses_token(std::string_view text) {
  bool used = false;
  (void)walk(text, [](std::string_view) {}, [&](std::string_view name) {
    used = used || name == "token";
    return true;
  });
  return used;
}

std::string render_template(std::string_view text, const TemplateValues& values) {
  std::string out;
  out.reserve(text.size() + values.token.size());
  (void)walk(text, [&](std::string_view s) { out += s; }, [&](std::string_view name) {
    auto v = value_of(name, values);
    if (v) out += *v;
    return v.has_value();
  });
  return out;
}

std::string check_template_data(const std::map<std::string, std::string>& data,
                                std::initializer_list<std::string_view> reserved) {
  if (data.size() > kMaxTemplateKeys)
    return "spec.target.template.data has " + std::to_string(data.size()) +
           " keys; at most " + std::to_string(kMaxTemplateKeys) + " are allowed";
  for (const auto& [key, text] : data) {
    const std::string field = "spec.target.template.data";
    if (!is_data_key(key))
      return field + " key \"" + key.substr(0, 64) + "\" is not a valid Secret key";
    if (std::find(reserved.begin(), reserved.end(), key) != reserved.end())
      return field + " key \"" + key + "\" collides with a key the operator writes";
    if (text.size() > kMaxTemplateBytes)
      return field + "[\"" + key + "\"] is " + std::to_string(text.size()) +
             " bytes; at most " + std::to_string(kMaxTemplateBytes) + " are allowed";
    if (auto err = check_template(text); !err.empty())
      return field + "[\"" + key + "\"]: " + err;
  }
  return {};
}

}  // namespace sto::controller
