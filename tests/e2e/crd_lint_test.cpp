// Offline checks of the CRDs in crds/ and the samples in deploy/samples/, with
// no API server: every CRD file holds one CustomResourceDefinition named after
// its group and plural; its schemas are structural (a type on every node, no
// preserve-unknown-fields), use only known keywords, describe every field for
// `kubectl explain`, and have defaults that satisfy their own enum and
// pattern; printer columns point at fields that exist; and every sample uses
// only fields of the schema, with values of the right type, enum and pattern.
//
// The authority is the real kube-apiserver (e2e.crd, which also checks the CEL
// rules); this test catches the same mistakes in a second, without one.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = STO_SOURCE_DIR;

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml")
      files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

// A plain (unquoted) scalar that a Kubernetes client (YAML 1.1 rules of
// sigs.k8s.io/yaml) decodes as something other than a string.
bool plain_scalar_is_not_string(const YAML::Node& node) {
  static const std::regex non_string(
      "|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|"
      "off|Off|"
      "OFF|[-+]?[0-9][0-9_]*|[-+]?([0-9][0-9_]*)?\\.[0-9.]*([eE][-+][0-9]+)?|0x[0-9a-fA-F_]+|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  return node.Tag() == "?" && std::regex_match(node.Scalar(), non_string);
}

std::optional<std::int64_t> as_int64(const YAML::Node& node) {
  if (!node.IsScalar() || (node.Tag() != "?" && node.Tag() != "!!int")) return std::nullopt;
  const std::string& text = node.Scalar();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

bool is_plain_bool(const YAML::Node& node) {
  return node.IsScalar() && node.Tag() == "?" &&
         (node.Scalar() == "true" || node.Scalar() == "false");
}

// Number of characters (code points) of UTF-8 text, as OpenAPI's maxLength counts.
std::size_t utf8_length(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// The regular expressions of a schema: its pattern, and the validation rules
// of the form self.matches('RE') or self.matches(r'RE') (patterns written as
// CEL rules, so that a refusal carries a message a person understands).
std::vector<std::string> string_patterns(const YAML::Node& schema) {
  std::vector<std::string> out;
  if (schema["pattern"]) out.push_back(schema["pattern"].as<std::string>());
  static const std::regex kMatches(R"(^\s*self\.matches\(r?'(.*)'\)\s*$)");
  if (const YAML::Node rules = schema["x-kubernetes-validations"]) {
    for (const auto& rule : rules) {
      std::smatch m;
      const std::string text = rule["rule"].as<std::string>("");
      if (std::regex_match(text, m, kMatches)) out.push_back(m[1].str());
    }
  }
  return out;
}

// What a value must satisfy (type, enum, pattern, bounds); used for a CRD's
// defaults and for the samples. Appends one line per problem.
void check_value(const YAML::Node& value, const YAML::Node& schema, const std::string& path,
                 std::vector<std::string>& problems, bool check_required = true);

void check_object(const YAML::Node& value, const YAML::Node& schema, const std::string& path,
                  std::vector<std::string>& problems, bool check_required) {
  if (!value.IsMap()) {
    problems.push_back(path + ": must be an object");
    return;
  }
  const YAML::Node properties = schema["properties"];
  const YAML::Node additional = schema["additionalProperties"];
  for (const auto& item : value) {
    const auto key = item.first.as<std::string>();
    const std::string child = path + "." + key;
    if (properties && properties[key]) {
      check_value(item.second, properties[key], child, problems, check_required);
    } else if (additional && additional.IsMap()) {
      check_value(item.second, additional, child, problems, check_required);
    } else {
      problems.push_back(child + ": unknown field");
    }
  }
  if (check_required && schema["required"]) {
    for (const auto& name : schema["required"]) {
      if (!value[name.as<std::string>()])
        problems.push_back(path + "." + name.as<std::string>() + ": required");
    }
  }
  if (schema["maxProperties"] && value.size() > schema["maxProperties"].as<std::size_t>()) {
    problems.push_back(path + ": more than maxProperties entries");
  }
}

void check_value(const YAML::Node& value, const YAML::Node& schema, const std::string& path,
                 std::vector<std::string>& problems, bool check_required) {
  if (!schema) {
    problems.push_back(path + ": no schema");
    return;
  }
  const auto type = schema["type"] ? schema["type"].as<std::string>() : std::string();
  if (type == "object") {
    check_object(value, schema, path, problems, check_required);
    return;
  }
  if (type == "array") {
    if (!value.IsSequence()) {
      problems.push_back(path + ": must be a list");
      return;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      check_value(value[i], schema["items"], path + "[" + std::to_string(i) + "]", problems,
                  check_required);
    }
    return;
  }
  if (!value.IsScalar()) {
    problems.push_back(path + ": must be a " + type);
    return;
  }
  if (type == "boolean" && !is_plain_bool(value))
    problems.push_back(path + ": must be true or false");
  if (type == "integer") {
    auto number = as_int64(value);
    if (!number) {
      problems.push_back(path + ": must be an integer");
    } else if (schema["minimum"] && *number < schema["minimum"].as<std::int64_t>()) {
      problems.push_back(path + ": below the minimum " + schema["minimum"].as<std::string>());
    }
  }
  if (type != "string") return;
  const std::string& text = value.Scalar();
  if (plain_scalar_is_not_string(value)) {
    problems.push_back(path + ": '" + text + "' is not read as a string; quote it");
    return;
  }
  if (schema["enum"]) {
    bool found = false;
    for (const auto& allowed : schema["enum"]) found = found || allowed.as<std::string>() == text;
    if (!found) problems.push_back(path + ": '" + text + "' is not in the enum");
  }
  for (const auto& pattern : string_patterns(schema)) {
    try {
      if (!std::regex_search(text, std::regex(pattern))) {
        problems.push_back(path + ": '" + text + "' does not match the pattern");
      }
    } catch (const std::regex_error&) {
      // Reported by the schema check.
    }
  }
  if (schema["maxLength"] && utf8_length(text) > schema["maxLength"].as<std::size_t>()) {
    problems.push_back(path + ": longer than maxLength");
  }
  if (schema["minLength"] && utf8_length(text) < schema["minLength"].as<std::size_t>()) {
    problems.push_back(path + ": shorter than minLength");
  }
}

// The keywords of a structural schema that apiextensions.k8s.io/v1 accepts.
const std::set<std::string>& known_keywords() {
  static const std::set<std::string> keywords = {"type",
                                                 "format",
                                                 "description",
                                                 "title",
                                                 "properties",
                                                 "required",
                                                 "items",
                                                 "additionalProperties",
                                                 "enum",
                                                 "default",
                                                 "pattern",
                                                 "minLength",
                                                 "maxLength",
                                                 "minimum",
                                                 "maximum",
                                                 "exclusiveMinimum",
                                                 "exclusiveMaximum",
                                                 "multipleOf",
                                                 "minItems",
                                                 "maxItems",
                                                 "uniqueItems",
                                                 "minProperties",
                                                 "maxProperties",
                                                 "nullable",
                                                 "example",
                                                 "allOf",
                                                 "anyOf",
                                                 "oneOf",
                                                 "not",
                                                 "x-kubernetes-validations",
                                                 "x-kubernetes-list-type",
                                                 "x-kubernetes-list-map-keys",
                                                 "x-kubernetes-map-type",
                                                 "x-kubernetes-int-or-string",
                                                 "x-kubernetes-embedded-resource"};
  return keywords;
}

// Structural-schema and documentation rules for one schema node and below.
void check_schema(const YAML::Node& schema, const std::string& path,
                  std::vector<std::string>& problems) {
  if (!schema.IsMap()) {
    problems.push_back(path + ": schema must be a map");
    return;
  }
  for (const auto& item : schema) {
    const auto keyword = item.first.as<std::string>();
    if (keyword == "x-kubernetes-preserve-unknown-fields") {
      problems.push_back(path +
                         ": x-kubernetes-preserve-unknown-fields (unknown fields must be pruned)");
    } else if (!known_keywords().contains(keyword)) {
      problems.push_back(path + ": unknown schema keyword " + keyword);
    }
  }
  static const std::set<std::string> types = {"object",  "array",  "string",
                                              "integer", "number", "boolean"};
  const auto type = schema["type"] ? schema["type"].as<std::string>() : std::string();
  if (!types.contains(type) && !schema["x-kubernetes-int-or-string"]) {
    problems.push_back(path + ": no valid type (structural schemas need one on every node)");
  }
  // Kubernetes documents metadata itself; kubectl explain shows no map values
  // or items of scalar lists on their own.
  const bool needs_description =
      path != ".metadata" && !path.ends_with("[*]") && !(path.ends_with("[]") && type != "object");
  if (needs_description &&
      (!schema["description"] || schema["description"].as<std::string>().empty())) {
    problems.push_back(path + ": no description (kubectl explain shows it)");
  }
  for (const auto& pattern : string_patterns(schema)) {
    try {
      std::regex{pattern};
    } catch (const std::regex_error& e) {
      problems.push_back(path + ": pattern does not compile: " + e.what());
    }
  }
  if (schema["default"]) {
    check_value(schema["default"], schema, path + " (default)", problems, /*check_required=*/false);
  }
  const YAML::Node properties = schema["properties"];
  if (schema["required"]) {
    for (const auto& name : schema["required"]) {
      if (!properties || !properties[name.as<std::string>()]) {
        problems.push_back(path + ": required field " + name.as<std::string>() +
                           " is not a property");
      }
    }
  }
  if (properties) {
    for (const auto& item : properties) {
      check_schema(item.second, path + "." + item.first.as<std::string>(), problems);
    }
  }
  if (const YAML::Node additional = schema["additionalProperties"]) {
    if (additional.IsMap()) {
      check_schema(additional, path + "[*]", problems);
    } else {
      problems.push_back(path + ": additionalProperties must be a schema");
    }
    if (properties)
      problems.push_back(path + ": properties and additionalProperties are exclusive");
  }
  if (type == "array") {
    if (!schema["items"]) {
      problems.push_back(path + ": an array needs items");
    } else {
      check_schema(schema["items"], path + "[]", problems);
    }
    if (const YAML::Node keys = schema["x-kubernetes-list-map-keys"]) {
      for (const auto& key : keys) {
        const YAML::Node required = schema["items"]["required"];
        const bool is_required =
            required && std::any_of(required.begin(), required.end(), [&](const YAML::Node& r) {
              return r.as<std::string>() == key.as<std::string>();
            });
        if (!is_required)
          problems.push_back(path + ": list map key " + key.as<std::string>() + " is not required");
      }
    }
  }
  if (const YAML::Node rules = schema["x-kubernetes-validations"]) {
    for (const auto& rule : rules) {
      if (!rule["rule"]) problems.push_back(path + ": a validation without rule");
      if (!rule["message"] && !rule["messageExpression"]) {
        problems.push_back(path + ": validation '" + rule["rule"].as<std::string>("") +
                           "' has no message");
      }
    }
  }
}

// The schema node a printer column's JSONPath reads, if there is one.
std::optional<YAML::Node> resolve_json_path(const YAML::Node& root, std::string json_path) {
  // Filters such as [?(@.type=="Ready")] select list items.
  json_path = std::regex_replace(json_path, std::regex(R"(\[[^\]]*\])"), "[]");
  YAML::Node node = YAML::Clone(root);
  std::size_t pos = 1;  // after the leading '.'
  while (pos <= json_path.size()) {
    std::size_t next = json_path.find('.', pos);
    if (next == std::string::npos) next = json_path.size();
    std::string name = json_path.substr(pos, next - pos);
    bool items = name.ends_with("[]");
    if (items) name.resize(name.size() - 2);
    if (!node["properties"] || !node["properties"][name]) return std::nullopt;
    node = YAML::Clone(node["properties"][name]);
    if (items) {
      if (!node["items"]) return std::nullopt;
      node = YAML::Clone(node["items"]);
    }
    pos = next + 1;
  }
  return node;
}

std::optional<YAML::Node> load_single_document(const fs::path& file,
                                               std::vector<std::string>& problems) {
  try {
    auto documents = YAML::LoadAllFromFile(file.string());
    std::erase_if(documents, [](const YAML::Node& d) { return d.IsNull(); });
    if (documents.size() != 1) {
      problems.push_back(file.filename().string() + ": holds " + std::to_string(documents.size()) +
                         " documents, want 1");
      return std::nullopt;
    }
    return documents.front();
  } catch (const YAML::Exception& e) {
    problems.push_back(file.filename().string() + ": does not parse: " + e.what());
    return std::nullopt;
  }
}

struct Crd {
  fs::path file;
  YAML::Node doc;
};

std::vector<Crd> load_crds(std::vector<std::string>& problems) {
  std::vector<Crd> crds;
  for (const auto& file : yaml_files(kSourceDir / "crds")) {
    if (auto doc = load_single_document(file, problems)) crds.push_back({file, *doc});
  }
  return crds;
}

TEST(CrdLint, EachFileIsOneCrdNamedAfterGroupAndPlural) {
  std::vector<std::string> problems;
  auto crds = load_crds(problems);
  ASSERT_FALSE(crds.empty()) << "no CRD in " << (kSourceDir / "crds");
  for (const auto& [file, doc] : crds) {
    const std::string where = file.filename().string() + ": ";
    if (doc["apiVersion"].as<std::string>("") != "apiextensions.k8s.io/v1" ||
        doc["kind"].as<std::string>("") != "CustomResourceDefinition") {
      problems.push_back(where + "not an apiextensions.k8s.io/v1 CustomResourceDefinition");
      continue;
    }
    const auto group = doc["spec"]["group"].as<std::string>("");
    const auto plural = doc["spec"]["names"]["plural"].as<std::string>("");
    if (doc["metadata"]["name"].as<std::string>("") != plural + "." + group) {
      problems.push_back(where + "metadata.name is not <plural>.<group>");
    }
    if (file.filename() != group + "_" + plural + ".yaml") {
      problems.push_back(where + "file name is not <group>_<plural>.yaml");
    }
    int storage = 0;
    for (const auto& version : doc["spec"]["versions"])
      storage += version["storage"].as<bool>(false) ? 1 : 0;
    if (storage != 1) problems.push_back(where + "exactly one version must be the storage version");
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(CrdLint, SchemasAreStructuralDescribedAndDefaultsValid) {
  std::vector<std::string> problems;
  for (const auto& [file, doc] : load_crds(problems)) {
    for (const auto& version : doc["spec"]["versions"]) {
      const YAML::Node schema = version["schema"]["openAPIV3Schema"];
      const std::string where =
          file.filename().string() + " " + version["name"].as<std::string>("?");
      if (!schema) {
        problems.push_back(where + ": no openAPIV3Schema");
        continue;
      }
      std::vector<std::string> found;
      check_schema(schema, "", found);
      for (auto& line : found)
        problems.push_back(where + " " + (line.starts_with(":") ? "<root>" + line : line));
    }
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(CrdLint, PrinterColumnsReadExistingFields) {
  std::vector<std::string> problems;
  static const std::set<std::string> column_types = {"integer", "number", "string", "boolean",
                                                     "date"};
  for (const auto& [file, doc] : load_crds(problems)) {
    for (const auto& version : doc["spec"]["versions"]) {
      for (const auto& column : version["additionalPrinterColumns"]) {
        const auto name = column["name"].as<std::string>("");
        const auto path = column["jsonPath"].as<std::string>("");
        const auto type = column["type"].as<std::string>("");
        const std::string where = file.filename().string() + " column " + name + ": ";
        if (!column_types.contains(type)) problems.push_back(where + "bad type " + type);
        if (path.starts_with(".metadata.")) continue;
        const auto resolved = resolve_json_path(version["schema"]["openAPIV3Schema"], path);
        if (!resolved) {
          problems.push_back(where + path + " is not a field of the schema");
          continue;
        }
        const YAML::Node& field = *resolved;
        const auto field_type = field["type"].as<std::string>("");
        const bool matches = type == "date" ? field_type == "string" &&
                                                  field["format"].as<std::string>("") == "date-time"
                                            : type == field_type;
        if (!matches)
          problems.push_back(where + "type " + type + " does not fit the field's type " +
                             field_type);
      }
    }
  }
  EXPECT_TRUE(problems.empty()) << join(problems);
}

// The SysdigToken's columns, in order, all shown without -o wide (the
// README and kubectl-sysdigtoken status show the same ones).
TEST(CrdLint, SysdigTokenPrinterColumnsAreTheDocumentedOnes) {
  std::vector<std::string> problems;
  const std::vector<std::string> want = {"Ready",    "Reason",        "Team",         "Secret",
                                         "Revision", "Last Rotation", "Next Refresh", "Age"};
  bool found = false;
  for (const auto& [file, doc] : load_crds(problems)) {
    if (doc["spec"]["names"]["kind"].as<std::string>("") != "SysdigToken") continue;
    found = true;
    for (const auto& version : doc["spec"]["versions"]) {
      std::vector<std::string> names;
      for (const auto& column : version["additionalPrinterColumns"]) {
        names.push_back(column["name"].as<std::string>(""));
        if (column["priority"].as<int>(0) != 0)
          problems.push_back("column " + names.back() + " has a priority: only -o wide shows it");
      }
      if (names != want) problems.push_back("columns are " + join(names) + ", want " + join(want));
    }
  }
  EXPECT_TRUE(found) << "no SysdigToken CRD";
  EXPECT_TRUE(problems.empty()) << join(problems);
}

TEST(CrdLint, SamplesUseOnlyFieldsAndValuesOfTheSchema) {
  std::vector<std::string> problems;
  const auto crds = load_crds(problems);
  int checked = 0;
  for (const auto& file : yaml_files(kSourceDir / "deploy" / "samples")) {
    const auto loaded = load_single_document(file, problems);
    if (!loaded) continue;
    const YAML::Node& sample = *loaded;
    const std::string where = file.filename().string();
    if (!sample["apiVersion"] || !sample["kind"] || !sample["metadata"]["name"]) {
      problems.push_back(where + ": needs apiVersion, kind and metadata.name");
      continue;
    }
    const auto api_version = sample["apiVersion"].as<std::string>();
    const auto kind = sample["kind"].as<std::string>();
    for (const auto& [crd_file, crd] : crds) {
      const auto group = crd["spec"]["group"].as<std::string>("");
      if (kind != crd["spec"]["names"]["kind"].as<std::string>("") ||
          !api_version.starts_with(group + "/"))
        continue;
      bool served = false;
      for (const auto& version : crd["spec"]["versions"]) {
        if (api_version != group + "/" + version["name"].as<std::string>("") ||
            !version["served"].as<bool>(false)) {
          continue;
        }
        served = true;
        YAML::Node body = YAML::Clone(sample);
        body.remove("metadata");  // validated by Kubernetes itself
        std::vector<std::string> found;
        check_value(body, version["schema"]["openAPIV3Schema"], "", found);
        for (auto& line : found)
          problems.push_back(where + ": " + line.substr(line.starts_with(".") ? 1 : 0));
        ++checked;
      }
      if (!served)
        problems.push_back(where + ": " + api_version + " is not a served version of " + kind);
    }
  }
  EXPECT_GT(checked, 0) << "no sample of a CRD in deploy/samples";
  EXPECT_TRUE(problems.empty()) << join(problems);
}

// The lint itself: it must catch what it claims to.
TEST(CrdLint, CatchesUnknownFieldsBadEnumsAndMissingDescriptions) {
  const YAML::Node schema = YAML::Load(R"(
type: object
properties:
  mode: {type: string, enum: [a, b], default: c}
  count: {type: integer, minimum: 1}
  name: {type: string, description: x, pattern: '^[a-z]+$', maxLength: 3}
  url:
    type: string
    description: x
    x-kubernetes-validations:
      - rule: >-
          self.matches(r'^https://\[[0-9a-f:]+\]$')
        message: url must be https://[v6]
)");
  std::vector<std::string> problems;
  check_schema(schema, "", problems);
  const std::string text = join(problems);
  EXPECT_NE(text.find(".mode (default): 'c' is not in the enum"), std::string::npos) << text;
  EXPECT_NE(text.find(".count: no description"), std::string::npos) << text;
  EXPECT_EQ(text.find(".name: no description"), std::string::npos) << text;

  problems.clear();
  check_value(YAML::Load("{mode: a, count: 0, name: Abcd, colour: blue, url: 'https://[::1]'}"),
              schema, "", problems);
  const std::string sample = join(problems);
  EXPECT_NE(sample.find(".colour: unknown field"), std::string::npos) << sample;
  EXPECT_NE(sample.find(".count: below the minimum 1"), std::string::npos) << sample;
  EXPECT_NE(sample.find(".name: 'Abcd' does not match the pattern"), std::string::npos) << sample;
  EXPECT_NE(sample.find(".name: longer than maxLength"), std::string::npos) << sample;
  EXPECT_EQ(sample.find(".url:"), std::string::npos) << sample;
  problems.clear();
  check_value(YAML::Load("{url: 'http://[::1]'}"), schema, "", problems);
  EXPECT_NE(join(problems).find(".url: 'http://[::1]' does not match the pattern"),
            std::string::npos)
      << join(problems);

  problems.clear();
  check_value(YAML::Load("{mode: yes}"), schema, "", problems);
  EXPECT_NE(join(problems).find("is not read as a string"), std::string::npos) << join(problems);
}

}  // namespace
