// Test support: the instances, teams and tokens that the fake IBM Cloud's
// test seeds share (DESIGN §6's example and a few more); a test brings
// them in with `using namespace sto::testing::fake_cloud;`.
#pragma once

#include <cstdint>
#include <string_view>

namespace sto::testing::fake_cloud {

inline constexpr std::string_view kGuid = "7a1f3c2e-5b0d-4c8e-9f21-3d6b8a4e0c11";
inline constexpr std::string_view kIamOnlyGuid = "5c2d8e1a-0b3f-4a6c-8d7e-9f0a1b2c3d4e";
inline constexpr std::int64_t kOpsTeam = 26055;
inline constexpr std::string_view kOpsToken = "0f8e2c5a-9a51-4d0e-8b7c-1e2f3a4b5c6d";
inline constexpr std::int64_t kMonOpsTeam = 26056;
inline constexpr std::string_view kMonOpsToken = "9d1c7b3e-2f4a-4b5c-8d6e-7f8091a2b3c4";

}  // namespace sto::testing::fake_cloud
