#pragma once
// JSON-RPC 2.0 client for Kamailio's jsonrpcs module over UDP datagrams on loopback
// (EdgeSettings::jsonrpc_port). Serve pushes its decisions into Kamailio's htables with it
// (docs/sip-edge.md). One datagram per request; replies are matched by id.
//
// Errors: unavailable when Kamailio does not answer within the timeout or the port is closed;
// not_found when Kamailio reports 404 (e.g. deleting a missing key); internal for other
// JSON-RPC errors and garbled replies. Thread-safe (calls are serialised).

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace carillon::sip {

class KamailioRpc {
 public:
  KamailioRpc(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::milliseconds(500));
  ~KamailioRpc();
  KamailioRpc(const KamailioRpc&) = delete;
  KamailioRpc& operator=(const KamailioRpc&) = delete;

  // Any RPC command, e.g. call("htable.dump", {"routes"}); returns the "result" member.
  Result<nlohmann::json> call(const std::string& method, const nlohmann::json& params = nlohmann::json::array());

  Status set(const std::string& table, const std::string& key, const std::string& value);
  Status set_int(const std::string& table, const std::string& key, std::int64_t value);
  // The entry disappears after `seconds` (short-lived browser credentials).
  Status set_with_expiry(const std::string& table, const std::string& key, const std::string& value, int seconds);
  // not_found if the key does not exist.
  Status remove(const std::string& table, const std::string& key);
  Status flush(const std::string& table);
  // Sets many keys with a window of requests in flight (a full re-push after a restart).
  // Stops at and returns the first error.
  Status set_many(const std::string& table, const std::vector<std::pair<std::string, std::string>>& entries);

 private:
  Status ensure_socket();
  Status send_request(const std::string& method, const nlohmann::json& params, std::uint64_t id);
  // Waits for the reply with this id until `deadline`; replies to older ids are dropped.
  Result<nlohmann::json> receive_reply(std::uint64_t id, std::chrono::steady_clock::time_point deadline);

  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  std::mutex mutex_;
  int fd_ = -1;
  std::uint64_t next_id_ = 1;
};

}  // namespace carillon::sip
