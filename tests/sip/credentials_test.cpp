#include "sip/credentials.hpp"

#include <gtest/gtest.h>

namespace carillon::sip {

TEST(SipCredentials, Ha1MatchesTheDigestDefinition) {
  // echo -n 'alice:carillon.local:secret' | md5sum
  EXPECT_EQ(ha1("alice", "carillon.local", "secret"), "da6451e99c27ac518ea73943f01e3a74");
}

TEST(SipCredentials, DerivedPasswordsAreStablePerUserAndSecret) {
  auto a = derive_password("k1", "dev_1");
  EXPECT_EQ(a.size(), 43u);
  EXPECT_EQ(a, derive_password("k1", "dev_1"));
  EXPECT_NE(a, derive_password("k1", "dev_2"));
  EXPECT_NE(a, derive_password("k2", "dev_1"));
}

}  // namespace carillon::sip
