// spec.target.template.data: the five placeholders, the $${ escape, and the
// refusals that name the key and the placeholder.
#include <gtest/gtest.h>

#include "controller/secret_template.h"

namespace sto::controller {
namespace {

const TemplateValues kValues{"TOKEN", "https://h", "42", "guid", "eu-de"};

TEST(SecretTemplate, ExpandsTheFivePlaceholdersAndNothingElse) {
  EXPECT_EQ(render_template("${token}|${url}|${teamID}|${instanceID}|${region}", kValues),
            "TOKEN|https://h|42|guid|eu-de");
  EXPECT_EQ(render_template("$HOME $(id) `id` $5 $ {token} ${", kValues).substr(0, 27),
            "$HOME $(id) `id` $5 $ {toke");
  EXPECT_EQ(render_template("a$${token}b$$c", kValues), "a${token}b$$c");
  EXPECT_EQ(render_template("", kValues), "");
  EXPECT_EQ(render_template("$", kValues), "$");
}

TEST(SecretTemplate, ARenderedTokenIsNotExpandedAgain) {
  const TemplateValues tricky{"${url}", "U", "1", "g", "r"};
  EXPECT_EQ(render_template("${token}", tricky), "${url}");
}

TEST(SecretTemplate, RefusesUnknownAndUnterminatedPlaceholders) {
  EXPECT_EQ(check_template("x ${token} ${url}"), "");
  EXPECT_NE(check_template("${TOKEN}").find("unknown placeholder \"${TOKEN}\""), std::string::npos);
  EXPECT_NE(check_template("${env:HOME}").find("${env:HOME}"), std::string::npos);
  EXPECT_NE(check_template("${token").find("unterminated"), std::string::npos);
  EXPECT_EQ(check_template("$${anything}"), "");
  // Control characters of a name are not echoed.
  EXPECT_EQ(check_template("${a\x01\x1b}").find('\x1b'), std::string::npos);
}

TEST(SecretTemplate, TellsWhetherTheTokenIsUsed) {
  EXPECT_TRUE(uses_token("p=${token}"));
  EXPECT_FALSE(uses_token("u=${url} $${token}"));
}

TEST(SecretTemplate, DataChecksNameTheKey) {
  EXPECT_EQ(check_template_data({{"a.yaml", "${url}"}}, {"SYSDIG_MONITOR_API_TOKEN"}), "");
  auto err = check_template_data({{"a.yaml", "${nope}"}}, {});
  EXPECT_NE(err.find("spec.target.template.data[\"a.yaml\"]"), std::string::npos) << err;
  err = check_template_data({{"SYSDIG_MONITOR_API_TOKEN", "x"}}, {"SYSDIG_MONITOR_API_TOKEN"});
  EXPECT_NE(err.find("collides"), std::string::npos) << err;
  err = check_template_data({{"bad key", "x"}}, {});
  EXPECT_NE(err.find("not a valid Secret key"), std::string::npos) << err;
  err = check_template_data({{"big", std::string(kMaxTemplateBytes + 1, 'x')}}, {});
  EXPECT_NE(err.find("at most 32768"), std::string::npos) << err;
  std::map<std::string, std::string> many;
  for (std::size_t i = 0; i <= kMaxTemplateKeys; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_NE(check_template_data(many, {}).find("at most 16"), std::string::npos);
}

}  // namespace
}  // namespace sto::controller
