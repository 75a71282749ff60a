#pragma once
// A SIP user agent on libre: SIP over TLS (server certificate verified), digest auth, SDES-SRTP
// (AES_CM_128_HMAC_SHA1_80), Opus / G.722 / G.711 audio, RFC 4733 DTMF, many calls per process.
// Hold by the peer (re-INVITE with a=sendonly / a=inactive) is followed: the answer says
// recvonly / inactive and no audio is sent until the peer resumes. A blind transfer by the peer
// (in-dialog REFER, RFC 3515) is followed when Handlers::on_transfer is set.
//
// Threading: libre runs in one dedicated thread owned by the UserAgent (the "media thread").
// Every public method may be called from any thread, including from inside a handler; calls from
// other threads are marshalled to the media thread and wait for it. Handlers run on the media
// thread and must not block. Sources and sinks are read/written on the media thread every 20 ms.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "media/audio.hpp"
#include "media/codec.hpp"

namespace carillon::media {

struct TlsSettings {
  std::string ca_file;      // PEM CA bundle the peer's certificate must chain to (required)
  std::string cert_file;    // PEM certificate (chain) of this agent (required: libre's TLS
  std::string key_file;     //   transport also listens); PEM private key (required)
  std::string verify_host;  // name or IP the peer's certificate must match (required)
};

struct UaSettings {
  std::string listen_ip = "127.0.0.1";
  int sip_port = 0;  // TLS listening port; 0 = any free port (see UserAgent::sip_port)
  TlsSettings tls;
  // Offered in this order; when answering, the highest-bandwidth common one wins
  // (Opus > G.722 > G.711, A-law and u-law in this list's order).
  std::vector<Codec> codecs{Codec::opus, Codec::g722, Codec::pcma, Codec::pcmu};
  // true: only RTP/SAVP with SDES is offered or accepted (plain offers get 488).
  // false: RTP/SAVP is offered and RTP/AVP also accepted.
  bool require_srtp = true;
  std::string user_agent = "carillon";
  // RTP/RTCP ports are taken from this range (pairs: RTP even, RTCP = RTP + 1).
  int rtp_port_min = 20000;
  int rtp_port_max = 40000;
  // Calls not answered within this time are cancelled (outgoing) or rejected 480 (incoming).
  int no_answer_timeout_s = 60;
};

struct Account {
  std::string registrar;  // e.g. "sip:127.0.0.1:5061;transport=tls"; also the outbound proxy
  std::string domain;     // AOR is sip:username@domain
  std::string username;
  std::string password;
  // Digest name when it differs from `username` (per-session names of web and mobile clients).
  std::string auth_user;
  std::string display_name;
  int expires = 300;
};

using CallId = std::uint64_t;

enum class CallState { calling, ringing, established, closed };
std::string_view to_string(CallState state);

struct CallInfo {
  CallId id = 0;
  bool incoming = false;
  std::string peer;         // the remote URI
  std::string sip_call_id;  // SIP Call-ID
  CallState state = CallState::calling;
  std::optional<Codec> codec;  // once media is negotiated
  bool srtp = false;
  int close_code = 0;       // SIP status that ended the call (e.g. 486, 488), 0 if none
  std::string close_reason;
  bool held = false;        // the peer put the call on hold: no audio is sent meanwhile
  CallId transferred_from = 0;  // the call whose REFER placed this call, 0 if none
};

struct RtpStats {
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_received = 0;  // audio and DTMF, after SRTP authentication
  std::uint64_t bytes_sent = 0;        // RTP payload bytes
  std::uint64_t bytes_received = 0;
  std::uint64_t packets_lost = 0;      // expected - received (RFC 3550), audio stream
  double jitter_ms = 0.0;              // RFC 3550 interarrival jitter
  std::uint64_t srtp_failures = 0;     // packets dropped by SRTP authentication
};

struct Handlers {
  std::function<void(bool registered, int code, std::string reason)> on_registration;
  // A new incoming call (state ringing; 180 already sent). Answer or reject now or later.
  std::function<void(const CallInfo&)> on_incoming;
  std::function<void(const CallInfo&)> on_call_state;
  std::function<void(CallId, char digit)> on_dtmf;
  // The peer of call `transferred` asked (REFER) to call someone else, and the agent placed that
  // call (`new_call`, outgoing, through the same account). The REFER was answered 202 and the
  // peer hears the new call's progress (NOTIFY message/sipfrag: 100, 180, final status); once it
  // is answered the transferred call is hung up; if it fails, the transferred call stays.
  // Without this handler REFER is declined (603).
  std::function<void(CallId transferred, const CallInfo& new_call)> on_transfer;
  // Progress of a transfer this agent asked for (UserAgent::transfer): the status line the peer
  // reported for its new call (100, 180, 200, 486, ...), or 0 when the subscription ended
  // without one. Final codes (>= 200) are the last report.
  std::function<void(CallId, int code)> on_transfer_progress;
};

class UserAgent {
 public:
  // Starts the media thread and the TLS listener. Errors: invalid_argument (settings, TLS files),
  // unavailable (port in use, libre failure).
  static Result<std::unique_ptr<UserAgent>> start(UaSettings settings, Handlers handlers);
  // Hangs up every call (BYE / CANCEL / 503), unregisters, and stops the media thread; waits
  // ~300 ms for those requests to leave when there was anything to end. Must not run inside a
  // handler (it joins the media thread).
  ~UserAgent();
  UserAgent(const UserAgent&) = delete;
  UserAgent& operator=(const UserAgent&) = delete;

  // Registers (and keeps refreshing); the outcome arrives through on_registration.
  Status register_account(Account account);
  // Calls `uri` (sip: or sips:); through the registrar as outbound proxy when an account is set,
  // else directly (the URI must then carry ;transport=tls and an IP literal).
  Result<CallId> call(const std::string& uri);
  Status answer(CallId id);
  Status reject(CallId id, int code = 486);
  Status hangup(CallId id);
  Status send_dtmf(CallId id, std::string_view digits);
  // Blind transfer: asks the peer of the established call `id` to call `target` (REFER with
  // Refer-To: <target>); its reports arrive through on_transfer_progress. The call itself stays
  // until either side hangs up. Errors: not_found, conflict (not established, or a transfer of
  // this call is still running), invalid_argument (target not sip:/sips:).
  Status transfer(CallId id, const std::string& target);
  // The call reads its source and writes its sink every 20 ms; nullptr = silence / discard.
  Status set_source(CallId id, std::shared_ptr<AudioSource> source);
  Status set_sink(CallId id, std::shared_ptr<AudioSink> sink);
  Result<RtpStats> stats(CallId id) const;
  std::optional<CallInfo> info(CallId id) const;
  // Calls that are not closed yet (closed calls are forgotten once their state was reported).
  std::vector<CallInfo> calls() const;
  int sip_port() const;

  class Impl;

 private:
  explicit UserAgent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace carillon::media
