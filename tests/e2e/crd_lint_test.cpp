// Offline checks of the CRDs in crds/ and the samples in deploy/samples/, with
// no API server: every CRD file holds one CustomResourceDefinition named after
// its group and plural; its schemas are structural (a type on every node, no
// preserve-unknown-fields), use only known keywords, describe every field for
// `kubectl explain`, and have defaults that satisfy their own enum and
// pattern; printer columns point at fields that exist; and every sample uses
// only fields of the schema, with values of the right type, enum and pattern.
// The ClusterSysdigToken CRD is SysdigToken's spec without trustedProfile
// (field for field the same schema and rules, descriptions aside), plus
// namespaceSelector or namespaces and apiKeySecretRef.namespace; its status
// and printer columns are SysdigToken's plus the namespaces' lists.
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

// A schema as text with sorted keys and without descriptions: two schemas
// that validate alike compare equal however they are documented.
std::string canonical(const YAML::Node& node) {
  if (node.IsMap()) {
    std::vector<std::pair<std::string, std::string>> items;
    for (const auto& item : node) {
      const auto key = item.first.as<std::string>();
      if (key != "description") items.emplace_back(key, canonical(item.second));
    }
    std::sort(items.begin(), items.end());
    std::string out = "{";
    for (const auto& [key, value] : items) out += key + ":" + value + ",";
    return out + "}";
  }
  if (node.IsSequence()) {
    std::string out = "[";
    for (const auto& item : node) out += canonical(item) + ",";
    return out + "]";
  }
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return "~";
}

std::vector<std::string> strings_of(const YAML::Node& list) {
  std::vector<std::string> out;
  if (list && list.IsSequence()) {
    for (const auto& item : list) out.push_back(item.as<std::string>(""));
  }
  return out;
}

std::vector<std::string> keys_of(const YAML::Node& map) {
  std::vector<std::string> out;
  if (map && map.IsMap()) {
    for (const auto& item : map) out.push_back(item.first.as<std::string>());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The CRD of a kind, or nothing.
std::optional<Crd> crd_of_kind(const std::vector<Crd>& crds, const std::string& kind) {
  for (const auto& crd : crds) {
    if (crd.doc["spec"]["names"]["kind"].as<std::string>("") == kind) return crd;
  }
  return std::nullopt;
}

YAML::Node first_version(const Crd& crd) { return crd.doc["spec"]["versions"][0]; }
YAML::Node root_schema(const Crd& crd) { return first_version(crd)["schema"]["openAPIV3Schema"]; }

// The SysdigToken and ClusterSysdigToken CRDs, loaded once per test.
struct TokenCrds {
  Crd namespaced, cluster;
};
std::optional<TokenCrds> token_crds() {
  std::vector<std::string> problems;
  const auto crds = load_crds(problems);
  auto namespaced = crd_of_kind(crds, "SysdigToken");
  auto cluster = crd_of_kind(crds, "ClusterSysdigToken");
  EXPECT_TRUE(problems.empty()) << join(problems);
  EXPECT_TRUE(namespaced) << "no SysdigToken CRD in crds/";
  EXPECT_TRUE(cluster) << "no ClusterSysdigToken CRD in crds/";
  if (!namespaced || !cluster) return std::nullopt;
  return TokenCrds{*namespaced, *cluster};
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

TEST(CrdLint, ClusterSysdigTokenNamesScopeAndVersion) {
  const auto crds = token_crds();
  ASSERT_TRUE(crds);
  const YAML::Node spec = crds->cluster.doc["spec"];
  EXPECT_EQ(crds->cluster.doc["metadata"]["name"].as<std::string>(""),
            "clustersysdigtokens.monitoring.ibm.com");
  EXPECT_EQ(spec["group"].as<std::string>(""), "monitoring.ibm.com");
  EXPECT_EQ(spec["scope"].as<std::string>(""), "Cluster");
  EXPECT_EQ(spec["names"]["plural"].as<std::string>(""), "clustersysdigtokens");
  EXPECT_EQ(spec["names"]["singular"].as<std::string>(""), "clustersysdigtoken");
  EXPECT_EQ(spec["names"]["listKind"].as<std::string>(""), "ClusterSysdigTokenList");
  EXPECT_EQ(strings_of(spec["names"]["shortNames"]), std::vector<std::string>{"csdt"});
  EXPECT_EQ(strings_of(spec["names"]["categories"]),
            strings_of(crds->namespaced.doc["spec"]["names"]["categories"]));
  ASSERT_EQ(spec["versions"].size(), 1u);
  const YAML::Node version = first_version(crds->cluster);
  EXPECT_EQ(version["name"].as<std::string>(""), "v1alpha1");
  EXPECT_TRUE(version["served"].as<bool>(false));
  EXPECT_TRUE(version["storage"].as<bool>(false));
  EXPECT_TRUE(version["subresources"]["status"].IsMap()) << "no status subresource";
  EXPECT_EQ(crds->cluster.doc["metadata"]["labels"].size(),
            crds->namespaced.doc["metadata"]["labels"].size());
}

// SysdigToken's columns without Next Refresh (a ClusterSysdigToken's status
// has no nextRefreshTime of its own), with the same JSONPaths and types.
TEST(CrdLint, ClusterSysdigTokenPrinterColumnsAreSysdigTokensWithoutNextRefresh) {
  const auto crds = token_crds();
  ASSERT_TRUE(crds);
  std::vector<std::string> want, got;
  for (const auto& column : first_version(crds->namespaced)["additionalPrinterColumns"]) {
    if (column["name"].as<std::string>("") == "Next Refresh") continue;
    want.push_back(column["name"].as<std::string>("") + " " + column["type"].as<std::string>("") +
                   " " + column["jsonPath"].as<std::string>(""));
  }
  for (const auto& column : first_version(crds->cluster)["additionalPrinterColumns"]) {
    got.push_back(column["name"].as<std::string>("") + " " + column["type"].as<std::string>("") +
                  " " + column["jsonPath"].as<std::string>(""));
    EXPECT_EQ(column["priority"].as<int>(0), 0) << got.back() << ": only -o wide shows it";
  }
  EXPECT_EQ(got, want) << "columns are" << join(got) << "\nwant" << join(want);
  const std::vector<std::string> names = {"Ready",    "Reason",        "Team", "Secret",
                                          "Revision", "Last Rotation", "Age"};
  ASSERT_EQ(got.size(), names.size()) << join(got);
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_TRUE(got[i].starts_with(names[i] + " "));
}

// Field for field: a ClusterSysdigToken takes what a SysdigToken takes (the
// operator decodes both with one decoder), except trustedProfile; the API key
// Secret names its namespace; and it selects namespaces.
TEST(CrdLint, ClusterSysdigTokenSpecIsSysdigTokensWithoutTrustedProfile) {
  const auto crds = token_crds();
  ASSERT_TRUE(crds);
  const YAML::Node ns_spec = root_schema(crds->namespaced)["properties"]["spec"];
  const YAML::Node cl_spec = root_schema(crds->cluster)["properties"]["spec"];
  ASSERT_TRUE(ns_spec["properties"].IsMap());
  ASSERT_TRUE(cl_spec["properties"].IsMap());

  std::set<std::string> want;
  for (const auto& key : keys_of(ns_spec["properties"])) want.insert(key);
  want.erase("trustedProfile");
  want.insert("namespaceSelector");
  want.insert("namespaces");
  const auto got_keys = keys_of(cl_spec["properties"]);
  EXPECT_EQ(std::set<std::string>(got_keys.begin(), got_keys.end()), want);

  for (const auto& key : keys_of(ns_spec["properties"])) {
    if (key == "trustedProfile" || key == "apiKeySecretRef") continue;
    if (!cl_spec["properties"][key]) continue;  // reported above
    EXPECT_EQ(canonical(cl_spec["properties"][key]), canonical(ns_spec["properties"][key]))
        << "spec." << key << " differs from SysdigToken's (descriptions aside)";
  }

  // apiKeySecretRef: name and key as SysdigToken's, plus a required namespace
  // (a DNS-1123 label: at most 63 characters).
  const YAML::Node ns_ref = ns_spec["properties"]["apiKeySecretRef"];
  const YAML::Node cl_ref = cl_spec["properties"]["apiKeySecretRef"];
  ASSERT_TRUE(cl_ref.IsMap()) << "no spec.apiKeySecretRef";
  EXPECT_EQ(keys_of(cl_ref["properties"]), (std::vector<std::string>{"key", "name", "namespace"}));
  for (const char* field : {"name", "key"}) {
    EXPECT_EQ(canonical(cl_ref["properties"][field]), canonical(ns_ref["properties"][field]))
        << "spec.apiKeySecretRef." << field << " differs from SysdigToken's";
  }
  auto required = strings_of(cl_ref["required"]);
  std::sort(required.begin(), required.end());
  EXPECT_EQ(required, (std::vector<std::string>{"name", "namespace"}));
  const YAML::Node ns_field = cl_ref["properties"]["namespace"];
  EXPECT_EQ(ns_field["type"].as<std::string>(""), "string");
  EXPECT_EQ(ns_field["maxLength"].as<int>(0), 63);
  const auto patterns = string_patterns(ns_field);
  ASSERT_EQ(patterns.size(), 1u) << "apiKeySecretRef.namespace needs a DNS-1123 label rule";
  const std::regex label(patterns.front());
  EXPECT_TRUE(std::regex_search("sysdig-token-admin", label));
  EXPECT_FALSE(std::regex_search("Admin", label));
  EXPECT_FALSE(std::regex_search("a.b", label));
  EXPECT_FALSE(std::regex_search("-a", label));

  // Required: SysdigToken's, plus apiKeySecretRef (the only credentials).
  auto ns_required = strings_of(ns_spec["required"]);
  ns_required.push_back("apiKeySecretRef");
  std::sort(ns_required.begin(), ns_required.end());
  auto cl_required = strings_of(cl_spec["required"]);
  std::sort(cl_required.begin(), cl_required.end());
  EXPECT_EQ(cl_required, ns_required);

  // Rules: SysdigToken's, but the credentials one (no trustedProfile), plus
  // exactly one of namespaceSelector or namespaces.
  std::vector<std::string> want_rules, got_rules;
  for (const auto& rule : ns_spec["x-kubernetes-validations"]) {
    if (rule["rule"].as<std::string>("").find("trustedProfile") != std::string::npos) continue;
    want_rules.push_back(canonical(rule));
  }
  bool selection_rule = false;
  for (const auto& rule : cl_spec["x-kubernetes-validations"]) {
    const auto text = rule["rule"].as<std::string>("");
    EXPECT_EQ(text.find("trustedProfile"), std::string::npos) << text;
    if (text == "has(self.namespaceSelector) != has(self.namespaces)") {
      selection_rule = true;
      const auto message = rule["message"].as<std::string>("");
      EXPECT_NE(message.find("exactly one of namespaceSelector or namespaces"), std::string::npos)
          << message;
      continue;
    }
    got_rules.push_back(canonical(rule));
  }
  EXPECT_TRUE(selection_rule) << "no rule: exactly one of namespaceSelector or namespaces";
  EXPECT_EQ(got_rules, want_rules) << "spec rules differ from SysdigToken's";
}

// namespaceSelector is a metav1.LabelSelector; namespaces a set of names.
TEST(CrdLint, ClusterSysdigTokenSelectsNamespacesByLabelSelectorOrList) {
  const auto crds = token_crds();
  ASSERT_TRUE(crds);
  const YAML::Node props = root_schema(crds->cluster)["properties"]["spec"]["properties"];
  const YAML::Node selector = props["namespaceSelector"];
  ASSERT_TRUE(selector.IsMap()) << "no spec.namespaceSelector";
  EXPECT_EQ(selector["type"].as<std::string>(""), "object");
  EXPECT_FALSE(selector["required"]) << "{} must select every namespace";
  EXPECT_EQ(keys_of(selector["properties"]),
            (std::vector<std::string>{"matchExpressions", "matchLabels"}));
  const YAML::Node labels = selector["properties"]["matchLabels"];
  EXPECT_EQ(labels["type"].as<std::string>(""), "object");
  EXPECT_EQ(labels["additionalProperties"]["type"].as<std::string>(""), "string");
  const YAML::Node expressions = selector["properties"]["matchExpressions"];
  EXPECT_EQ(expressions["type"].as<std::string>(""), "array");
  const YAML::Node requirement = expressions["items"];
  EXPECT_EQ(keys_of(requirement["properties"]),
            (std::vector<std::string>{"key", "operator", "values"}));
  auto required = strings_of(requirement["required"]);
  std::sort(required.begin(), required.end());
  EXPECT_EQ(required, (std::vector<std::string>{"key", "operator"}));
  EXPECT_EQ(strings_of(requirement["properties"]["operator"]["enum"]),
            (std::vector<std::string>{"In", "NotIn", "Exists", "DoesNotExist"}));
  EXPECT_EQ(requirement["properties"]["values"]["type"].as<std::string>(""), "array");
  EXPECT_EQ(requirement["properties"]["values"]["items"]["type"].as<std::string>(""), "string");
  bool values_needed = false, values_forbidden = false;
  for (const auto& rule : requirement["x-kubernetes-validations"]) {
    const auto text = rule["rule"].as<std::string>("");
    const auto message = rule["message"].as<std::string>("");
    if (text.find("'In', 'NotIn'") != std::string::npos &&
        text.find("size(self.values) > 0") != std::string::npos) {
      values_needed = true;
      EXPECT_NE(message.find("In and NotIn need at least one value"), std::string::npos) << message;
    }
    if (text.find("'Exists', 'DoesNotExist'") != std::string::npos &&
        text.find("size(self.values) == 0") != std::string::npos) {
      values_forbidden = true;
      EXPECT_NE(message.find("Exists and DoesNotExist take no values"), std::string::npos)
          << message;
    }
  }
  EXPECT_TRUE(values_needed) << "no rule: In and NotIn need values";
  EXPECT_TRUE(values_forbidden) << "no rule: Exists and DoesNotExist take none";

  const YAML::Node namespaces = props["namespaces"];
  ASSERT_TRUE(namespaces.IsMap()) << "no spec.namespaces";
  EXPECT_EQ(namespaces["type"].as<std::string>(""), "array");
  EXPECT_EQ(namespaces["maxItems"].as<int>(0), 1000);
  EXPECT_EQ(namespaces["x-kubernetes-list-type"].as<std::string>(""), "set");
  EXPECT_EQ(namespaces["items"]["type"].as<std::string>(""), "string");
  EXPECT_EQ(namespaces["items"]["maxLength"].as<int>(0), 63);
  const auto patterns = string_patterns(namespaces["items"]);
  ASSERT_EQ(patterns.size(), 1u) << "namespaces[] needs a DNS-1123 label rule";
  EXPECT_TRUE(std::regex_search("team-a", std::regex(patterns.front())));
  EXPECT_FALSE(std::regex_search("Team_A", std::regex(patterns.front())));
}

// The status: SysdigToken's fields keep their schema (the operator writes
// them alike), plus the namespaces that have the Secret and those that failed.
TEST(CrdLint, ClusterSysdigTokenStatusIsSysdigTokensPlusNamespaces) {
  const auto crds = token_crds();
  ASSERT_TRUE(crds);
  const YAML::Node ns_status = root_schema(crds->namespaced)["properties"]["status"]["properties"];
  const YAML::Node cl_status = root_schema(crds->cluster)["properties"]["status"]["properties"];
  ASSERT_TRUE(cl_status.IsMap()) << "no status schema";
  for (const char* field : {"observedGeneration", "conditions", "secretName", "teamID",
                            "tokenFingerprint", "revision", "lastSyncTime", "lastRotationTime",
                            "lastHandledReset", "provisionedNamespaces", "failedNamespaces"}) {
    EXPECT_TRUE(cl_status[field]) << "status." << field << " is missing";
  }
  for (const auto& key : keys_of(cl_status)) {
    if (!ns_status[key]) continue;
    EXPECT_EQ(canonical(cl_status[key]), canonical(ns_status[key]))
        << "status." << key << " differs from SysdigToken's (descriptions aside)";
  }
  const YAML::Node provisioned = cl_status["provisionedNamespaces"];
  EXPECT_EQ(provisioned["type"].as<std::string>(""), "array");
  EXPECT_EQ(provisioned["items"]["type"].as<std::string>(""), "string");
  const YAML::Node failed = cl_status["failedNamespaces"];
  EXPECT_EQ(failed["type"].as<std::string>(""), "array");
  EXPECT_EQ(keys_of(failed["items"]["properties"]),
            (std::vector<std::string>{"message", "namespace", "reason"}));
  for (const auto& key : keys_of(failed["items"]["properties"])) {
    EXPECT_EQ(failed["items"]["properties"][key]["type"].as<std::string>(""), "string") << key;
  }
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

// The parity checks compare schemas, not their documentation.
TEST(CrdLint, CanonicalSchemasIgnoreDescriptionsAndKeyOrderOnly) {
  const auto a = YAML::Load("{type: string, description: one, maxLength: 3, enum: [x, y]}");
  const auto b = YAML::Load("{maxLength: 3, enum: [x, y], type: string, description: two}");
  EXPECT_EQ(canonical(a), canonical(b));
  EXPECT_NE(canonical(a), canonical(YAML::Load("{type: string, maxLength: 4, enum: [x, y]}")));
  EXPECT_NE(canonical(a), canonical(YAML::Load("{type: string, maxLength: 3, enum: [y, x]}")));
  EXPECT_NE(canonical(a), canonical(YAML::Load("{type: string, maxLength: 3}")));
}

}  // namespace
