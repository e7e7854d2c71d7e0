// spec.target.template.data: extra Secret values with placeholders. Only
// ${token}, ${url}, ${teamID}, ${instanceID} and ${region} expand, and
// "$${" writes a literal "${"; nothing else is interpreted.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace sto::controller {

inline constexpr std::size_t kMaxTemplateKeys = 16;
inline constexpr std::size_t kMaxTemplateBytes = 32 * 1024;  // per value, as written

struct TemplateValues {
  std::string_view token;
  std::string_view url;
  std::string_view team_id;
  std::string_view instance_id;
  std::string_view region;
};

// Empty when `text` is a valid template, else what is wrong with it (an
// unknown or unterminated placeholder, quoted).
std::string check_template(std::string_view text);

// Whether a valid template uses ${token}.
bool uses_token(std::string_view text);

// The template with its placeholders replaced; `text` must be valid.
std::string render_template(std::string_view text, const TemplateValues& values);

// Checks spec.target.template.data: key names, sizes and placeholders; the
// error names the key. `reserved` are the keys the operator writes itself.
std::string check_template_data(const std::map<std::string, std::string>& data,
                                std::initializer_list<std::string_view> reserved);

}  // namespace sto::controller
