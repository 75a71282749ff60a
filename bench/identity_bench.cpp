// Cost of the identity hot paths: a login is dominated by one Argon2id verification (the same
// for unknown users, who are checked against a dummy hash); every API request verifies one
// ES256 access token.

#include <string>

#include <benchmark/benchmark.h>

#include "common/clock.hpp"
#include "common/random.hpp"
#include "identity/password.hpp"
#include "identity/tokens.hpp"

namespace {

using namespace carillon;
using namespace carillon::identity;

void BM_PasswordHash(benchmark::State& state) {
  for (auto _ : state) {
    auto hash = hash_password("correct horse battery staple");
    if (!hash) state.SkipWithError(hash.error().message.c_str());
    benchmark::DoNotOptimize(hash);
  }
}
BENCHMARK(BM_PasswordHash)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_LoginPasswordVerify(benchmark::State& state) {
  auto hash = hash_password("correct horse battery staple");
  if (!hash) {
    state.SkipWithError(hash.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    bool ok = verify_password(*hash, "correct horse battery staple");
    if (!ok) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_LoginPasswordVerify)->Unit(benchmark::kMillisecond)->UseRealTime();

struct SignerFixture {
  SystemClock clock;
  SodiumRandom random;
  TokenSigner signer{*TokenSigner::generate_key_pem(), "https://carillon.bench", "carillon-api", clock, random};
  AccessClaims claims{"us_0000000000010123456789abcdef", "alice", Role::company_admin,
                      "co_000000000001fedcba9876543210", 0, 0, ""};
};

void BM_JwtIssue(benchmark::State& state) {
  SignerFixture f;
  for (auto _ : state) {
    auto token = f.signer.issue(f.claims);
    if (!token) state.SkipWithError(token.error().message.c_str());
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_JwtIssue)->Unit(benchmark::kMicrosecond);

void BM_JwtVerify(benchmark::State& state) {
  SignerFixture f;
  auto token = f.signer.issue(f.claims);
  if (!token) {
    state.SkipWithError(token.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    auto claims = f.signer.verify(*token);
    if (!claims) state.SkipWithError(claims.error().message.c_str());
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_JwtVerify)->Unit(benchmark::kMicrosecond);

// A forged token must be refused before any elliptic-curve work.
void BM_JwtRejectAlgNone(benchmark::State& state) {
  SignerFixture f;
  const std::string token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
  for (auto _ : state) {
    auto claims = f.signer.verify(token);
    benchmark::DoNotOptimize(claims);
  }
}
BENCHMARK(BM_JwtRejectAlgNone)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
