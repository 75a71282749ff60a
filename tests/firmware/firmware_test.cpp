// Unit tests for src/firmware: manifests and versions, signing, the compatibility table, update
// policies and maintenance windows, and the rollout decisions.

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/encoding.hpp"
#include "common/files.hpp"
#include "common/openssl.hpp"
#include "common/time_zone.hpp"
#include "firmware/compatibility.hpp"
#include "firmware/model.hpp"
#include "firmware/policy.hpp"
#include "firmware/rollout.hpp"
#include "firmware/signing.hpp"
#include "support/temp_dir.hpp"

namespace carillon::firmware {
namespace {

using nlohmann::json;

const std::string kDigest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

Manifest sample_manifest() {
  Manifest m;
  m.family = "MX";
  m.version = "4.6.1.21";
  m.sha256 = kDigest;
  m.size = 123456;
  m.security_critical = true;
  m.models = {"ID5 TD", "ID5 TD CM"};
  return m;
}

// The field of the error a manifest document is rejected with ("" when it is accepted).
std::string manifest_error_field(const json& document) {
  auto parsed = manifest_from_json(document);
  return parsed ? "" : parsed.error().field;
}

// ---- manifests and versions ------------------------------------------------------------------

TEST(Manifest, JsonRoundTripKeepsEveryField) {
  Manifest m = sample_manifest();
  auto parsed = manifest_from_json(to_json(m));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->family, "MX");
  EXPECT_EQ(parsed->version, "4.6.1.21");
  EXPECT_EQ(parsed->sha256, kDigest);
  EXPECT_EQ(parsed->size, 123456);
  EXPECT_TRUE(parsed->security_critical);
  EXPECT_EQ(parsed->models, m.models);
  EXPECT_EQ(signing_payload(*parsed), signing_payload(m));
}

TEST(Manifest, OptionalFieldsDefault) {
  auto parsed = manifest_from_json({{"family", "BF"}, {"version", "1"}, {"sha256", kDigest}, {"size", 1}});
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_FALSE(parsed->security_critical);
  EXPECT_TRUE(parsed->models.empty());
}

TEST(Manifest, FieldErrorsNameTheField) {
  json good = to_json(sample_manifest());
  auto with = [&](const std::string& key, const json& value) {
    json d = good;
    d[key] = value;
    return d;
  };
  auto without = [&](const std::string& key) {
    json d = good;
    d.erase(key);
    return d;
  };
  EXPECT_EQ(manifest_error_field(good), "");
  EXPECT_FALSE(manifest_from_json(json::array()));
  EXPECT_EQ(manifest_error_field(with("family", "XX")), "family");
  EXPECT_EQ(manifest_error_field(with("family", "mx")), "family");
  EXPECT_EQ(manifest_error_field(without("family")), "family");
  for (const char* version : {"", "1..2", "1.2.", ".1", "1.2.3.4.5", "1234567", "v1", "1.2-rc1", "1 .2", "1.2\n"})
    EXPECT_EQ(manifest_error_field(with("version", version)), "version") << version;
  EXPECT_EQ(manifest_error_field(with("version", 4)), "version");
  EXPECT_EQ(manifest_error_field(with("sha256", std::string(64, 'A'))), "sha256");
  EXPECT_EQ(manifest_error_field(with("sha256", kDigest.substr(1))), "sha256");
  EXPECT_EQ(manifest_error_field(with("sha256", kDigest + "0")), "sha256");
  EXPECT_EQ(manifest_error_field(with("sha256", std::string(63, 'a') + "g")), "sha256");
  EXPECT_EQ(manifest_error_field(with("size", 0)), "size");
  EXPECT_EQ(manifest_error_field(with("size", -5)), "size");
  EXPECT_EQ(manifest_error_field(with("size", "12")), "size");
  EXPECT_EQ(manifest_error_field(with("size", 1.5)), "size");
  EXPECT_EQ(manifest_error_field(without("size")), "size");
  EXPECT_EQ(manifest_error_field(with("security_critical", "yes")), "security_critical");
  EXPECT_EQ(manifest_error_field(with("models", "ID5 TD")), "models");
  EXPECT_EQ(manifest_error_field(with("models", json::array({1}))), "models");
  EXPECT_EQ(manifest_error_field(with("models", json::array({""}))), "models");
  EXPECT_EQ(manifest_error_field(with("models", json::array({"ID5 TD\nsize=1"}))), "models");
  EXPECT_EQ(manifest_error_field(with("models", json::array({"ID5 TD,ID5 TD CM"}))), "models");
  EXPECT_EQ(manifest_error_field(with("models", json::array({"IM1", "IM1"}))), "models");
}

TEST(Manifest, SigningPayloadIsCanonicalAndCoversEveryField) {
  Manifest m = sample_manifest();
  EXPECT_EQ(signing_payload(m),
            "carillon-firmware-manifest-v1\nfamily=MX\nversion=4.6.1.21\nsha256=" + kDigest +
                "\nsize=123456\nsecurity_critical=true\nmodels=ID5 TD,ID5 TD CM\n");
  std::set<std::string> payloads{signing_payload(m)};
  auto changed = [&](auto change) {
    Manifest copy = m;
    change(copy);
    return payloads.insert(signing_payload(copy)).second;
  };
  EXPECT_TRUE(changed([](Manifest& c) { c.family = "BF"; }));
  EXPECT_TRUE(changed([](Manifest& c) { c.version = "4.6.1.22"; }));
  EXPECT_TRUE(changed([](Manifest& c) { c.sha256[0] = 'a'; }));
  EXPECT_TRUE(changed([](Manifest& c) { c.size += 1; }));
  EXPECT_TRUE(changed([](Manifest& c) { c.security_critical = false; }));
  EXPECT_TRUE(changed([](Manifest& c) { c.models.pop_back(); }));
  EXPECT_TRUE(changed([](Manifest& c) { c.models.clear(); }));
}

TEST(Version, CompareIsNumericPerPart) {
  EXPECT_GT(compare_versions("1.10", "1.9"), 0);
  EXPECT_LT(compare_versions("1.9", "1.10"), 0);
  EXPECT_EQ(compare_versions("04.06.01.21", "4.6.1.21"), 0);
  EXPECT_EQ(compare_versions("1.2", "1.2.0"), 0);
  EXPECT_GT(compare_versions("2", "1.999999.999999.999999"), 0);
  EXPECT_LT(compare_versions("4.6.1.21", "4.6.2"), 0);
  EXPECT_TRUE(check_version("999999.0.0.1", "v"));
  EXPECT_TRUE(check_version("0", "v"));
  auto bad = check_version("1.2.3.4.5", "firmware_version");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::invalid_argument);
  EXPECT_EQ(bad.error().field, "firmware_version");
}

TEST(Model, StatesAndModesRoundTrip) {
  for (auto s : {DeviceUpdateState::pending, DeviceUpdateState::downloading, DeviceUpdateState::verifying,
                 DeviceUpdateState::installing, DeviceUpdateState::rebooting, DeviceUpdateState::done,
                 DeviceUpdateState::failed, DeviceUpdateState::rolled_back}) {
    auto parsed = parse_device_update_state(to_string(s));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(parse_device_update_state("finished"));
  for (auto s : {RolloutState::running, RolloutState::paused, RolloutState::cancelled, RolloutState::stopped,
                 RolloutState::completed}) {
    auto parsed = parse_rollout_state(to_string(s));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, s);
  }
  EXPECT_FALSE(parse_rollout_state("done"));
  EXPECT_EQ(*parse_update_mode("security_only", "mode"), UpdateMode::security_only);
  EXPECT_EQ(parse_update_mode("sometimes", "mode").error().field, "mode");
  EXPECT_TRUE(is_terminal(DeviceUpdateState::rolled_back));
  EXPECT_FALSE(is_terminal(DeviceUpdateState::rebooting));
}

// ---- signing ---------------------------------------------------------------------------------

std::string public_pem_of(EVP_PKEY* key) {
  openssl::BioPtr bio(BIO_new(BIO_s_mem()));
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio.get(), key), 1);
  return *openssl::bio_contents(bio.get());
}

class Signing : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = FirmwareSigner::load_or_create(key_path_);
    ASSERT_TRUE(loaded) << loaded.error().message;
    signer_.emplace(std::move(*loaded));
  }
  testing::TempDir dir_;
  std::filesystem::path key_path_ = dir_.path() / "pki" / "firmware-key.pem";
  std::optional<FirmwareSigner> signer_;
};

TEST_F(Signing, CreatesThePrivateKeyOwnerOnlyAndReloadsIt) {
  struct stat info {};
  ASSERT_EQ(::stat(key_path_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto again = FirmwareSigner::load_or_create(key_path_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->public_key_pem(), signer_->public_key_pem());
  EXPECT_NE(signer_->public_key_pem().find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  EXPECT_EQ(signer_->public_key_pem().find("PRIVATE"), std::string::npos);
}

TEST_F(Signing, SignatureVerifiesWithThePublicKey) {
  Manifest m = sample_manifest();
  std::string signature = signer_->sign(m);
  EXPECT_EQ(base64_decode(signature)->size(), 64u);
  auto ok = verify_manifest(signer_->public_key_pem(), m, signature);
  EXPECT_TRUE(ok) << ok.error().message;
}

TEST_F(Signing, AnyChangeToManifestOrSignatureFails) {
  Manifest m = sample_manifest();
  const std::string signature = signer_->sign(m);
  const std::string key = signer_->public_key_pem();

  Manifest bigger = m;
  bigger.size += 1;
  Manifest other_digest = m;
  other_digest.sha256[63] = other_digest.sha256[63] == '0' ? '1' : '0';
  Manifest not_critical = m;
  not_critical.security_critical = false;
  Manifest more_models = m;
  more_models.models.push_back("ID8 TD");
  for (const Manifest* altered : {&bigger, &other_digest, &not_critical, &more_models}) {
    auto result = verify_manifest(key, *altered, signature);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Errc::invalid_argument);
    EXPECT_EQ(result.error().field, "signature");
  }

  std::string raw = *base64_decode(signature);
  for (std::size_t byte : {std::size_t{0}, std::size_t{31}, std::size_t{63}}) {
    std::string flipped = raw;
    flipped[byte] = static_cast<char>(flipped[byte] ^ 0x01);
    auto result = verify_manifest(key, m, base64_encode(flipped));
    ASSERT_FALSE(result) << "byte " << byte;
    EXPECT_EQ(result.error().field, "signature");
  }
  EXPECT_EQ(verify_manifest(key, m, "not base64!").error().field, "signature");
  EXPECT_EQ(verify_manifest(key, m, base64_encode(raw.substr(0, 63))).error().field, "signature");
  EXPECT_EQ(verify_manifest(key, m, "").error().field, "signature");
}

TEST_F(Signing, ForeignKeyFails) {
  testing::TempDir other_dir;
  auto other = FirmwareSigner::load_or_create(other_dir.path() / "key.pem");
  ASSERT_TRUE(other);
  Manifest m = sample_manifest();
  EXPECT_FALSE(verify_manifest(signer_->public_key_pem(), m, other->sign(m)));
  EXPECT_TRUE(verify_manifest(other->public_key_pem(), m, other->sign(m)));
}

TEST_F(Signing, NonEd25519KeysAreRefused) {
  Manifest m = sample_manifest();
  const std::string signature = signer_->sign(m);

  openssl::PkeyPtr rsa(EVP_RSA_gen(2048));
  ASSERT_TRUE(rsa);
  auto refused = verify_manifest(public_pem_of(rsa.get()), m, signature);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "public_key");
  EXPECT_NE(refused.error().message.find("RSA"), std::string::npos) << refused.error().message;

  auto ec = openssl::generate_p256_key();
  ASSERT_TRUE(ec);
  refused = verify_manifest(public_pem_of(ec->get()), m, signature);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "public_key");
  EXPECT_NE(refused.error().message.find("EC"), std::string::npos) << refused.error().message;

  EXPECT_EQ(verify_manifest("", m, signature).error().field, "public_key");
  EXPECT_EQ(verify_manifest("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", m, signature).error().field,
            "public_key");

  // A private key file of the wrong type is not silently replaced or used.
  auto ec_pem = openssl::write_private_key(ec->get());
  ASSERT_TRUE(ec_pem);
  auto ec_path = dir_.path() / "ec.pem";
  ASSERT_TRUE(write_file(ec_path, *ec_pem, std::filesystem::perms(0600)));
  auto loaded = FirmwareSigner::load_or_create(ec_path);
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code, Errc::invalid_argument);
  EXPECT_NE(loaded.error().message.find("Ed25519"), std::string::npos);
  EXPECT_EQ(*read_file(ec_path), *ec_pem);

  auto junk_path = dir_.path() / "junk.pem";
  ASSERT_TRUE(write_file(junk_path, "not a key"));
  EXPECT_FALSE(FirmwareSigner::load_or_create(junk_path));
}

TEST(Sha256File, StreamsLargeFilesAndMatchesInMemoryDigest) {
  testing::TempDir dir;
  std::string content;
  for (int i = 0; i < 300000; ++i) content.push_back(static_cast<char>((i * 31) % 251));
  auto path = dir.path() / "image.bin";
  ASSERT_TRUE(write_file(path, content));
  auto digest = sha256_file_hex(path);
  ASSERT_TRUE(digest) << digest.error().message;
  EXPECT_EQ(*digest, sha256_hex(content));

  auto empty = dir.path() / "empty.bin";
  ASSERT_TRUE(write_file(empty, ""));
  EXPECT_EQ(*sha256_file_hex(empty), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  auto missing = sha256_file_hex(dir.path() / "missing.bin");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

// ---- compatibility ---------------------------------------------------------------------------

TEST(Compatibility, TableMatchesTheProductSheet) {
  auto table = compatibility_table();
  std::set<std::string_view> models;
  int mx = 0, bf = 0;
  for (const auto& row : table) {
    EXPECT_TRUE(models.insert(row.model).second) << row.model;
    ASSERT_EQ(row.min_revision.size(), 2u);
    EXPECT_TRUE(row.mesh) << row.model;  // every listed model can join an on-prem/mesh system
    if (row.family == "MX") {
      ++mx;
      EXPECT_TRUE(row.cloud && row.managed) << row.model;
    } else {
      ASSERT_EQ(row.family, "BF");
      ++bf;
      EXPECT_FALSE(row.cloud) << row.model;
    }
  }
  EXPECT_EQ(mx, 25);
  EXPECT_EQ(bf, 33);
  // "ID8 TD(-B)" and "OD1(-B)" on the sheet are two models each.
  for (const char* model : {"ID8 TD", "ID8 TD-B", "ID8 TD CM-B", "OD1", "OD1-B"}) EXPECT_TRUE(models.count(model)) << model;
}

TEST(Compatibility, FamilyOfKnownAndUnknownModels) {
  EXPECT_EQ(*family_of("ID5 TD"), "MX");
  EXPECT_EQ(*family_of("WS 311V CM DA"), "MX");
  EXPECT_EQ(*family_of("SIP-WS 800V"), "BF");
  for (const char* model : {"MX-DS-1", "id5 td", "ID5 TD ", ""}) {
    auto unknown = family_of(model);
    ASSERT_FALSE(unknown) << model;
    EXPECT_EQ(unknown.error().code, Errc::invalid_argument);
    EXPECT_EQ(unknown.error().field, "model");
  }
}

TEST(Compatibility, ClaimChecksRevisionAndMode) {
  EXPECT_TRUE(check_claimable("ID5 TD", "AD", ClaimMode::cloud));
  EXPECT_TRUE(check_claimable("ID5 TD", "AZ", ClaimMode::managed));
  EXPECT_TRUE(check_claimable("ID5 TD", "BA", ClaimMode::mesh));  // AZ < BA
  auto old = check_claimable("ID5 TD", "AC", ClaimMode::cloud);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().message, "model ID5 TD needs hardware revision AD or later, device has AC");
  EXPECT_EQ(old.error().field, "hardware_revision");
  EXPECT_FALSE(check_claimable("ID5 TD CM-B", "AK", ClaimMode::cloud));
  EXPECT_TRUE(check_claimable("ID5 TD CM-B", "AL", ClaimMode::cloud));
  EXPECT_FALSE(check_claimable("OD1 CM-B", "AA", ClaimMode::mesh));
  EXPECT_TRUE(check_claimable("OD1 CM-B", "AB", ClaimMode::mesh));
  for (const char* revision : {"3", "ad", "A", "ADX", ""})
    EXPECT_EQ(check_claimable("ID5 TD", revision, ClaimMode::cloud).error().field, "hardware_revision") << revision;

  // BF: amplifiers and most SIP-WS stations are on-prem/mesh only.
  auto cloud = check_claimable("AF 20H", "AA", ClaimMode::cloud);
  ASSERT_FALSE(cloud);
  EXPECT_EQ(cloud.error().message, "model AF 20H cannot be claimed as a cloud device");
  EXPECT_EQ(cloud.error().field, "mode");
  EXPECT_FALSE(check_claimable("AF 20H", "AA", ClaimMode::managed));
  EXPECT_TRUE(check_claimable("AF 20H", "AA", ClaimMode::mesh));
  EXPECT_FALSE(check_claimable("SIP-WS 800V", "AE", ClaimMode::managed));
  EXPECT_TRUE(check_claimable("SIP-WS 800V", "AE", ClaimMode::mesh));
  EXPECT_FALSE(check_claimable("SIP-WS 201V CA", "AF", ClaimMode::mesh));
  EXPECT_TRUE(check_claimable("SIP-WS 201V CA", "AG", ClaimMode::mesh));
  // Managed from the cloud, but never a cloud device.
  EXPECT_TRUE(check_claimable("AFLS 10H CW", "AD", ClaimMode::managed));
  EXPECT_FALSE(check_claimable("AFLS 10H CW", "AD", ClaimMode::cloud));
  EXPECT_FALSE(check_claimable("AFLS 10H HG", "AD", ClaimMode::managed));
  EXPECT_EQ(check_claimable("MX-DS-1", "AD", ClaimMode::cloud).error().field, "model");

  EXPECT_EQ(*parse_claim_mode("managed", "mode"), ClaimMode::managed);
  EXPECT_EQ(parse_claim_mode("on-prem", "mode").error().field, "mode");
}

TEST(Compatibility, ImageFitsFamilyModelsAndRevision) {
  Manifest mx_all = sample_manifest();
  mx_all.models.clear();
  EXPECT_TRUE(check_image_fits("OD1", "AA", mx_all));
  EXPECT_EQ(check_image_fits("SIP-WS 800V", "AE", mx_all).error().field, "model");
  EXPECT_EQ(check_image_fits("ID5 TD", "AC", mx_all).error().field, "hardware_revision");
  EXPECT_EQ(check_image_fits("nonsense", "AA", mx_all).error().field, "model");

  Manifest cm_only = mx_all;
  cm_only.models = {"ID5 TD CM"};
  EXPECT_TRUE(check_image_fits("ID5 TD CM", "AD", cm_only));
  auto other_model = check_image_fits("ID5 TD", "AD", cm_only);
  ASSERT_FALSE(other_model);
  EXPECT_NE(other_model.error().message.find("not built for model ID5 TD"), std::string::npos);

  EXPECT_TRUE(check_manifest_models(sample_manifest()));
  Manifest mixed = sample_manifest();
  mixed.models.push_back("AF 20H");
  EXPECT_EQ(check_manifest_models(mixed).error().field, "models");
  Manifest unknown = sample_manifest();
  unknown.models.push_back("MX-DS-1");
  EXPECT_EQ(check_manifest_models(unknown).error().field, "models");
}

// ---- policies and maintenance windows --------------------------------------------------------

std::int64_t utc(int year, int month, int day, int hour, int minute) {
  return days_from_civil({year, month, day}) * 86400 + hour * 3600 + minute * 60;
}

constexpr unsigned kMon = 1, kFri = 1 << 4, kSun = 1 << 6, kEveryDay = 127;

UpdatePolicy policy_for(const std::string& scope, UpdateMode mode) {
  UpdatePolicy p;
  p.scope_id = scope;
  p.mode = mode;
  return p;
}

TEST(Policy, NearestScopeWins) {
  auto company = policy_for("co_1", UpdateMode::manual);
  auto project = policy_for("pr_1", UpdateMode::security_only);
  auto site = policy_for("si_1", UpdateMode::all);
  EXPECT_EQ(effective_policy(company, project, site).scope_id, "si_1");
  EXPECT_EQ(effective_policy(company, project, std::nullopt).scope_id, "pr_1");
  EXPECT_EQ(effective_policy(company, std::nullopt, std::nullopt).scope_id, "co_1");
  EXPECT_EQ(effective_policy(std::nullopt, std::nullopt, site).scope_id, "si_1");
  UpdatePolicy none = effective_policy(std::nullopt, std::nullopt, std::nullopt);
  EXPECT_EQ(none.mode, UpdateMode::all);
  EXPECT_EQ(none.window.weekdays, 0u);
}

TEST(Policy, OffersByMode) {
  Manifest critical = sample_manifest();
  Manifest routine = sample_manifest();
  routine.security_critical = false;
  EXPECT_TRUE(offers(policy_for("s", UpdateMode::all), routine));
  EXPECT_TRUE(offers(policy_for("s", UpdateMode::security_only), critical));
  EXPECT_FALSE(offers(policy_for("s", UpdateMode::security_only), routine));
  EXPECT_FALSE(offers(policy_for("s", UpdateMode::manual), critical));
}

TEST(Policy, WindowChecks) {
  EXPECT_TRUE(check_window({}));
  EXPECT_TRUE(check_window({kMon, 22 * 60, 4 * 60}));
  EXPECT_TRUE(check_window({kEveryDay, 0, 1439}));
  EXPECT_EQ(check_window({128, 0, 60}).error().field, "window.weekdays");
  EXPECT_EQ(check_window({kMon, -1, 60}).error().field, "window.start");
  EXPECT_EQ(check_window({kMon, 1440, 60}).error().field, "window.start");
  EXPECT_EQ(check_window({kMon, 60, 1440}).error().field, "window.end");
  EXPECT_EQ(check_window({kMon, 60, 60}).error().field, "window.end");
}

TEST(Policy, JsonRoundTripAndFieldErrors) {
  UpdatePolicy p = policy_for("si_1", UpdateMode::security_only);
  p.window = {kMon | kFri | kSun, 22 * 60 + 30, 4 * 60 + 5};
  json document = to_json(p);
  EXPECT_EQ(document["window"]["weekdays"], json({"mon", "fri", "sun"}));
  EXPECT_EQ(document["window"]["start"], "22:30");
  EXPECT_EQ(document["window"]["end"], "04:05");
  auto parsed = policy_from_json(document);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->mode, UpdateMode::security_only);
  EXPECT_EQ(parsed->window.weekdays, p.window.weekdays);
  EXPECT_EQ(parsed->window.start_minute, p.window.start_minute);
  EXPECT_EQ(parsed->window.end_minute, p.window.end_minute);

  auto no_window = policy_from_json({{"mode", "manual"}, {"window", nullptr}});
  ASSERT_TRUE(no_window);
  EXPECT_EQ(no_window->window.weekdays, 0u);
  EXPECT_TRUE(to_json(*no_window)["window"].is_null());

  auto field_of = [](const json& d) {
    auto r = policy_from_json(d);
    return r ? std::string() : r.error().field;
  };
  json window{{"weekdays", {"mon"}}, {"start", "22:00"}, {"end", "04:00"}};
  auto with_window = [&](const std::string& key, const json& value) {
    json w = window;
    w[key] = value;
    return json{{"mode", "all"}, {"window", w}};
  };
  EXPECT_EQ(field_of(json{{"mode", "all"}, {"window", window}}), "");
  EXPECT_EQ(field_of(json{{"window", window}}), "mode");
  EXPECT_EQ(field_of(json{{"mode", "nightly"}}), "mode");
  EXPECT_EQ(field_of(json{{"mode", "all"}, {"window", "22-04"}}), "window");
  EXPECT_EQ(field_of(with_window("weekdays", {"monday"})), "window.weekdays");
  EXPECT_EQ(field_of(with_window("weekdays", "mon")), "window.weekdays");
  EXPECT_EQ(field_of(with_window("weekdays", {1})), "window.weekdays");
  for (const char* bad : {"24:00", "22:60", "2:00", "22.00", "", "22:00:00"})
    EXPECT_EQ(field_of(with_window("start", bad)), "window.start") << bad;
  EXPECT_EQ(field_of(with_window("end", 240)), "window.end");
  EXPECT_EQ(field_of(with_window("end", "22:00")), "window.end");  // empty window
}

class Windows : public ::testing::Test {
 protected:
  std::shared_ptr<const TimeZone> zone(const std::string& name) {
    auto z = zones_.get(name);
    if (!z) {
      ADD_FAILURE() << name << ": " << z.error().message;
      return std::make_shared<const TimeZone>(TimeZone::fixed("UTC", 0));
    }
    return *z;
  }
  TimeZoneDb zones_;
};

TEST_F(Windows, BerlinWrapBelongsToTheStartDayInWinterAndSummer) {
  auto berlin = zone("Europe/Berlin");
  MaintenanceWindow monday_night{kMon, 22 * 60, 4 * 60};
  // Winter, UTC+1: Monday 2026-01-12.
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 1, 12, 20, 59)));  // Mon 21:59
  EXPECT_TRUE(in_window(monday_night, *berlin, utc(2026, 1, 12, 21, 0)));    // Mon 22:00
  EXPECT_TRUE(in_window(monday_night, *berlin, utc(2026, 1, 12, 23, 30)));   // Tue 00:30
  EXPECT_TRUE(in_window(monday_night, *berlin, utc(2026, 1, 13, 2, 59)));    // Tue 03:59
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 1, 13, 3, 0)));    // Tue 04:00
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 1, 13, 21, 30)));  // Tue 22:30
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 1, 12, 1, 0)));    // Mon 02:00 (Sunday's night)
  // Summer, UTC+2: Monday 2026-07-20.
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 7, 20, 19, 59)));
  EXPECT_TRUE(in_window(monday_night, *berlin, utc(2026, 7, 20, 20, 0)));
  EXPECT_TRUE(in_window(monday_night, *berlin, utc(2026, 7, 21, 1, 59)));
  EXPECT_FALSE(in_window(monday_night, *berlin, utc(2026, 7, 21, 2, 0)));
  // No weekdays: no restriction.
  EXPECT_TRUE(in_window({}, *berlin, utc(2026, 7, 21, 12, 0)));
}

TEST_F(Windows, BerlinDstDays) {
  auto berlin = zone("Europe/Berlin");
  // Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC; 02:30 never happens.
  MaintenanceWindow sunday{kSun, 2 * 60 + 30, 4 * 60};
  EXPECT_FALSE(in_window(sunday, *berlin, utc(2026, 3, 29, 0, 59)));  // 01:59 CET
  EXPECT_TRUE(in_window(sunday, *berlin, utc(2026, 3, 29, 1, 0)));    // 03:00 CEST
  EXPECT_EQ(next_window_start(sunday, *berlin, utc(2026, 3, 28, 12, 0)), utc(2026, 3, 29, 1, 0));
  // A week later the window opens at 02:30 CEST.
  EXPECT_EQ(next_window_start(sunday, *berlin, utc(2026, 3, 29, 3, 0)), utc(2026, 4, 5, 0, 30));
  // A window entirely inside the skipped hour does not happen that day.
  MaintenanceWindow skipped{kSun, 2 * 60 + 10, 2 * 60 + 50};
  EXPECT_EQ(next_window_start(skipped, *berlin, utc(2026, 3, 28, 12, 0)), utc(2026, 4, 5, 0, 10));

  // Sunday 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
  MaintenanceWindow repeated{kSun, 2 * 60 + 30, 2 * 60 + 45};
  EXPECT_EQ(next_window_start(repeated, *berlin, utc(2026, 10, 24, 12, 0)), utc(2026, 10, 25, 0, 30));
  EXPECT_EQ(next_window_start(repeated, *berlin, utc(2026, 10, 25, 0, 50)), utc(2026, 10, 25, 1, 30));
  EXPECT_TRUE(in_window(repeated, *berlin, utc(2026, 10, 25, 1, 40)));
}

TEST_F(Windows, NewYorkAcrossDstAndMidnight) {
  auto new_york = zone("America/New_York");
  // Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC, so a 01:00-03:00 window
  // lasts one hour that night.
  MaintenanceWindow nightly{kEveryDay, 60, 180};
  EXPECT_FALSE(in_window(nightly, *new_york, utc(2026, 3, 8, 5, 59)));
  EXPECT_TRUE(in_window(nightly, *new_york, utc(2026, 3, 8, 6, 0)));
  EXPECT_TRUE(in_window(nightly, *new_york, utc(2026, 3, 8, 6, 59)));
  EXPECT_FALSE(in_window(nightly, *new_york, utc(2026, 3, 8, 7, 0)));  // 03:00 EDT
  EXPECT_TRUE(in_window(nightly, *new_york, utc(2026, 3, 9, 5, 0)));   // 01:00 EDT next night

  // Friday 23:00 - 02:00 covers early Saturday, in winter (UTC-5) and summer (UTC-4).
  MaintenanceWindow friday_night{kFri, 23 * 60, 2 * 60};
  EXPECT_TRUE(in_window(friday_night, *new_york, utc(2026, 1, 10, 6, 30)));   // Sat 01:30 EST
  EXPECT_FALSE(in_window(friday_night, *new_york, utc(2026, 1, 10, 7, 30)));  // Sat 02:30 EST
  EXPECT_TRUE(in_window(friday_night, *new_york, utc(2026, 7, 11, 5, 30)));   // Sat 01:30 EDT
  EXPECT_FALSE(in_window(friday_night, *new_york, utc(2026, 7, 11, 6, 30)));  // Sat 02:30 EDT
  EXPECT_FALSE(in_window(friday_night, *new_york, utc(2026, 7, 12, 5, 30)));  // Sun 01:30

  // From Friday afternoon EST to Monday morning EDT: the offset changes in between.
  MaintenanceWindow office{kMon, 9 * 60, 17 * 60};
  EXPECT_EQ(next_window_start(office, *new_york, utc(2026, 3, 6, 18, 0)), utc(2026, 3, 9, 13, 0));
  const std::int64_t inside = utc(2026, 3, 9, 15, 0);
  EXPECT_EQ(next_window_start(office, *new_york, inside), inside);
  EXPECT_EQ(next_window_start({}, *new_york, inside), inside);
  // A wrapping window seen from its own tail: still inside.
  EXPECT_EQ(next_window_start(friday_night, *new_york, utc(2026, 7, 11, 5, 30)), utc(2026, 7, 11, 5, 30));
  EXPECT_EQ(next_window_start(friday_night, *new_york, utc(2026, 7, 11, 6, 30)), utc(2026, 7, 18, 3, 0));
}

// ---- rollouts --------------------------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> fleet(int n) {
  std::vector<std::pair<std::string, std::string>> devices;
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "dv_%05d", i);
    devices.emplace_back(id, "4.6.0." + std::to_string(i % 7));
  }
  return devices;
}

std::vector<int> wave_sizes(const std::vector<RolloutDevice>& planned, std::size_t waves) {
  std::vector<int> sizes(waves, 0);
  for (const auto& d : planned) sizes.at(static_cast<std::size_t>(d.wave))++;
  return sizes;
}

TEST(Rollout, SpecChecks) {
  EXPECT_TRUE(check_rollout_spec({1, 10, 100}, 20));
  EXPECT_TRUE(check_rollout_spec({100}, 0));
  EXPECT_TRUE(check_rollout_spec({1, 2, 3, 4, 5, 6, 7, 8, 9, 100}, 100));
  for (const auto& waves : std::vector<std::vector<int>>{
           {}, {10, 5, 100}, {10, 10, 100}, {1, 10, 50}, {0, 100}, {1, 101}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100}}) {
    auto bad = check_rollout_spec(waves, 20);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().field, "waves");
  }
  EXPECT_EQ(check_rollout_spec({100}, -1).error().field, "failure_threshold_percent");
  EXPECT_EQ(check_rollout_spec({100}, 101).error().field, "failure_threshold_percent");
}

TEST(Rollout, PlanWaves) {
  const std::vector<int> waves{1, 10, 100};
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(1), waves), 3), (std::vector<int>{1, 0, 0}));
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(2), waves), 3), (std::vector<int>{1, 0, 1}));
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(3), waves), 3), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(100), waves), 3), (std::vector<int>{1, 9, 90}));
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(1000), waves), 3), (std::vector<int>{10, 90, 900}));
  EXPECT_EQ(wave_sizes(plan_devices("ro_1", fleet(101), waves), 3), (std::vector<int>{2, 9, 90}));
  EXPECT_TRUE(plan_devices("ro_1", {}, waves).empty());

  // Deterministic: the input order does not matter, duplicates are dropped.
  auto devices = fleet(50);
  auto shuffled = devices;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back(devices[3]);
  auto a = plan_devices("ro_1", devices, waves);
  auto b = plan_devices("ro_1", shuffled, waves);
  ASSERT_EQ(a.size(), 50u);
  ASSERT_EQ(b.size(), 50u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].device_id, b[i].device_id);
    EXPECT_EQ(a[i].wave, b[i].wave);
    EXPECT_EQ(a[i].rollout_id, "ro_1");
    EXPECT_EQ(a[i].state, DeviceUpdateState::pending);
    EXPECT_EQ(a[i].started_at, 0);
  }
  EXPECT_EQ(a[0].device_id, "dv_00000");
  EXPECT_EQ(a[0].wave, 0);
  EXPECT_EQ(a[7].from_version, "4.6.0.0");
}

class Orchestration : public ::testing::Test {
 protected:
  void start(int devices, std::vector<int> waves, int threshold) {
    rollout_ = Rollout{};
    rollout_.id = "ro_1";
    rollout_.waves = std::move(waves);
    rollout_.failure_threshold_percent = threshold;
    devices_ = plan_devices("ro_1", fleet(devices), rollout_.waves);
  }
  StepResult run(std::int64_t now) {
    StepInput input;
    input.now = now;
    input.device_timeout_seconds = 600;
    input.may_start_now = [this](const std::string& id) { return !offline_.count(id); };
    return step(rollout_, devices_, input);
  }
  RolloutDevice& device(const std::string& id) {
    auto it = std::find_if(devices_.begin(), devices_.end(), [&](const auto& d) { return d.device_id == id; });
    EXPECT_NE(it, devices_.end()) << id;
    return *it;
  }
  // Every device of `wave` ends in `state` except the first `failures`, which fail.
  void finish_wave(int wave, int failures, std::int64_t now) {
    for (auto& d : devices_) {
      if (d.wave != wave || is_terminal(d.state)) continue;
      auto reported = failures-- > 0 ? DeviceUpdateState::failed : DeviceUpdateState::done;
      ASSERT_TRUE(apply_report(d, reported, 100, "", now));
    }
  }
  Rollout rollout_;
  std::vector<RolloutDevice> devices_;
  std::set<std::string> offline_;
};

TEST_F(Orchestration, WavesAdvanceAndComplete) {
  start(100, {1, 10, 100}, 20);
  auto first = run(1000);
  EXPECT_EQ(first.start, std::vector<std::string>{"dv_00000"});
  EXPECT_FALSE(first.rollout_changed);
  ASSERT_EQ(first.changed.size(), 1u);
  EXPECT_EQ(first.changed[0].started_at, 1000);
  EXPECT_EQ(device("dv_00000").state, DeviceUpdateState::pending);
  EXPECT_TRUE(run(1010).start.empty());  // never asked twice

  finish_wave(0, 0, 1100);
  auto second = run(1200);
  EXPECT_TRUE(second.rollout_changed);
  EXPECT_EQ(rollout_.current_wave, 1);
  EXPECT_EQ(rollout_.updated_at, 1200);
  EXPECT_EQ(second.start.size(), 9u);

  finish_wave(1, 1, 1300);  // 1 of 9 = 11%: below 20%
  auto third = run(1400);
  EXPECT_EQ(rollout_.current_wave, 2);
  EXPECT_EQ(third.start.size(), 90u);

  finish_wave(2, 0, 1500);
  auto last = run(1600);
  EXPECT_TRUE(last.rollout_changed);
  EXPECT_EQ(rollout_.state, RolloutState::completed);
  EXPECT_TRUE(run(1700).start.empty());
}

TEST_F(Orchestration, ShareExactlyAtTheThresholdPasses) {
  start(100, {10, 100}, 20);
  run(1000);
  finish_wave(0, 2, 1100);  // 2 of 10 = 20%
  run(1200);
  EXPECT_EQ(rollout_.state, RolloutState::running);
  EXPECT_EQ(rollout_.current_wave, 1);
}

TEST_F(Orchestration, ShareAboveTheThresholdStops) {
  start(100, {10, 100}, 20);
  run(1000);
  // A rollback counts like a failure: 2 failed + 1 rolled back of 10.
  ASSERT_TRUE(apply_report(device("dv_00009"), DeviceUpdateState::rolled_back, 0, "boot loop", 1050));
  finish_wave(0, 2, 1100);
  auto result = run(1200);
  EXPECT_TRUE(result.rollout_changed);
  EXPECT_TRUE(result.start.empty());
  EXPECT_EQ(rollout_.state, RolloutState::stopped);
  EXPECT_EQ(rollout_.current_wave, 0);
  EXPECT_EQ(rollout_.stop_reason, "wave 1 (10%): 3 of 10 devices failed (30%), above the threshold of 20%");
  EXPECT_EQ(device("dv_00010").started_at, 0);  // the next wave was never asked
  EXPECT_FALSE(resume(rollout_));
}

TEST_F(Orchestration, ZeroThresholdStopsOnTheFirstFailure) {
  start(3, {1, 10, 100}, 0);
  run(1000);
  finish_wave(0, 1, 1100);
  run(1200);
  EXPECT_EQ(rollout_.state, RolloutState::stopped);
}

TEST_F(Orchestration, EmptyWavesPassAtOnce) {
  start(1, {1, 10, 100}, 20);
  EXPECT_EQ(run(1000).start.size(), 1u);
  finish_wave(0, 0, 1100);
  EXPECT_TRUE(run(1200).rollout_changed);
  EXPECT_EQ(rollout_.state, RolloutState::completed);

  start(0, {1, 100}, 20);
  run(1000);
  EXPECT_EQ(rollout_.state, RolloutState::completed);
}

TEST_F(Orchestration, SilentDevicesTimeOut) {
  start(3, {1, 10, 100}, 50);
  run(1000);
  ASSERT_TRUE(apply_report(device("dv_00000"), DeviceUpdateState::downloading, 40, "", 1100));
  EXPECT_TRUE(run(1700).changed.empty());  // 600 s since the last report: not yet
  auto result = run(1701);
  ASSERT_EQ(result.changed.size(), 1u);
  EXPECT_EQ(result.changed[0].state, DeviceUpdateState::failed);
  EXPECT_EQ(result.changed[0].error, "no progress for 601 s (last state downloading)");
  // 1 of 1 failed, above 50%.
  EXPECT_EQ(rollout_.state, RolloutState::stopped);
}

TEST_F(Orchestration, AskedButNeverReportingTimesOutToo) {
  start(3, {1, 10, 100}, 100);
  run(1000);
  auto result = run(1601);
  ASSERT_EQ(result.changed.size(), 2u);  // the silent device, then the next wave's device asked
  EXPECT_EQ(device("dv_00000").state, DeviceUpdateState::failed);
  EXPECT_EQ(rollout_.current_wave, 1);
  EXPECT_EQ(result.start, std::vector<std::string>{"dv_00001"});
}

TEST_F(Orchestration, OfflineOrOutOfWindowDevicesWait) {
  start(3, {1, 10, 100}, 20);
  offline_ = {"dv_00000"};
  EXPECT_TRUE(run(1000).start.empty());
  EXPECT_TRUE(run(99999).changed.empty());  // never asked, so it cannot time out
  EXPECT_EQ(rollout_.current_wave, 0);
  offline_.clear();
  EXPECT_EQ(run(100000).start, std::vector<std::string>{"dv_00000"});
}

TEST_F(Orchestration, OnlyRunningRolloutsMove) {
  start(3, {1, 10, 100}, 20);
  ASSERT_TRUE(pause(rollout_));
  auto paused = run(1000);
  EXPECT_TRUE(paused.start.empty());
  EXPECT_TRUE(paused.changed.empty());
  ASSERT_TRUE(resume(rollout_));
  EXPECT_EQ(run(1100).start.size(), 1u);
  ASSERT_TRUE(cancel(rollout_));
  finish_wave(0, 0, 1200);
  EXPECT_FALSE(run(1300).rollout_changed);
  EXPECT_EQ(rollout_.current_wave, 0);
}

TEST(RolloutControl, PauseResumeCancelRules) {
  Rollout r;
  EXPECT_TRUE(pause(r));
  EXPECT_EQ(r.state, RolloutState::paused);
  auto twice = pause(r);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, Errc::conflict);
  EXPECT_NE(twice.error().message.find("paused"), std::string::npos);
  EXPECT_TRUE(resume(r));
  EXPECT_EQ(r.state, RolloutState::running);
  EXPECT_FALSE(resume(r));
  EXPECT_TRUE(pause(r));
  EXPECT_TRUE(cancel(r));
  EXPECT_EQ(r.state, RolloutState::cancelled);
  auto resumed = resume(r);
  ASSERT_FALSE(resumed);
  EXPECT_EQ(resumed.error().message, "only a paused rollout can be resumed; this one is cancelled");
  EXPECT_FALSE(cancel(r));
  EXPECT_FALSE(pause(r));

  for (auto finished : {RolloutState::completed, RolloutState::stopped}) {
    Rollout f;
    f.state = finished;
    EXPECT_FALSE(pause(f));
    EXPECT_FALSE(resume(f));
    EXPECT_FALSE(cancel(f));
    EXPECT_EQ(f.state, finished);
  }
}

TEST(DeviceReports, ForwardOnlyAndTerminalStays) {
  RolloutDevice d;
  d.device_id = "dv_1";
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::downloading, 150, "", 10));
  EXPECT_EQ(d.percent, 100);
  EXPECT_EQ(d.started_at, 10);
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::downloading, -5, "", 11));
  EXPECT_EQ(d.percent, 0);
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::downloading, 40, "", 12));
  EXPECT_EQ(d.percent, 40);
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::verifying, 0, "", 13));
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::installing, 0, "", 14));
  auto back = apply_report(d, DeviceUpdateState::downloading, 10, "", 15);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, Errc::conflict);
  EXPECT_EQ(d.state, DeviceUpdateState::installing);
  EXPECT_EQ(d.updated_at, 14);
  EXPECT_EQ(apply_report(d, DeviceUpdateState::pending, 0, "", 15).error().field, "state");
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::rebooting, 0, "", 16));
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::done, 0, "", 17));
  EXPECT_EQ(d.percent, 100);
  EXPECT_EQ(d.updated_at, 17);

  auto late = apply_report(d, DeviceUpdateState::done, 100, "", 18);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, Errc::conflict);
  EXPECT_FALSE(apply_report(d, DeviceUpdateState::failed, 0, "oops", 18));
  EXPECT_EQ(d.state, DeviceUpdateState::done);
  EXPECT_EQ(d.updated_at, 17);
}

TEST(DeviceReports, FailureFromAnyNonTerminalState) {
  for (auto from : {DeviceUpdateState::pending, DeviceUpdateState::downloading, DeviceUpdateState::verifying,
                    DeviceUpdateState::installing, DeviceUpdateState::rebooting}) {
    RolloutDevice d;
    d.state = from;
    ASSERT_TRUE(apply_report(d, DeviceUpdateState::failed, 0, "", 5)) << to_string(from);
    EXPECT_EQ(d.error, "device reported failed");
    EXPECT_TRUE(is_terminal(d.state));
  }
  RolloutDevice d;
  d.state = DeviceUpdateState::rebooting;
  ASSERT_TRUE(apply_report(d, DeviceUpdateState::rolled_back, 0, "new image did not boot", 5));
  EXPECT_EQ(d.error, "new image did not boot");
  EXPECT_FALSE(apply_report(d, DeviceUpdateState::done, 100, "", 6));

  RolloutDevice skipping;
  ASSERT_TRUE(apply_report(skipping, DeviceUpdateState::done, 0, "", 5));  // a device may skip reports
}

}  // namespace
}  // namespace carillon::firmware
