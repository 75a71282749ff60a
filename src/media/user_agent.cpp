#include "media/user_agent.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <arpa/inet.h>

#include "common/log.hpp"
#include "media/dtmf.hpp"
#include "media/jitter_buffer.hpp"
#include "media/libre.hpp"

namespace carillon::media {

std::string_view to_string(CallState state) {
  switch (state) {
    case CallState::calling: return "calling";
    case CallState::ringing: return "ringing";
    case CallState::established: return "established";
    case CallState::closed: return "closed";
  }
  return "?";
}

namespace {

constexpr std::size_t kSrtpKeySalt = 30;  // AES_CM_128: 16-byte key + 14-byte salt
constexpr const char* kSrtpSuite = "AES_CM_128_HMAC_SHA1_80";
constexpr int kSrtpLayer = 10;
constexpr std::uint64_t kTickMs = 20;

std::string errstr(int err) { return std::string(std::strerror(err)); }

std::string pl_string(const pl& p) { return std::string(p.p ? p.p : "", p.l); }

// libre's objects are reference counted with mem_deref; this holds one reference.
template <class T>
struct MemDeref {
  void operator()(T* p) const { mem_deref(p); }
};

struct Task {
  std::function<void()> fn;
  std::promise<void> done;
};

bool is_ip_literal(const std::string& host) {
  in6_addr buf{};
  return inet_pton(AF_INET, host.c_str(), &buf) == 1 || inet_pton(AF_INET6, host.c_str(), &buf) == 1;
}

}  // namespace

// One call: SIP session, SDP, RTP socket, SRTP contexts, codec state. Lives on the media thread.
struct CallContext {
  UserAgent::Impl* ua = nullptr;
  CallInfo info;
  struct sipsess* sess = nullptr;
  struct sdp_session* sdp = nullptr;
  struct sdp_media* media = nullptr;
  struct rtp_sock* rtp = nullptr;
  struct udp_helper* helper_rtp = nullptr;
  struct udp_helper* helper_rtcp = nullptr;
  struct srtp* srtp_tx = nullptr;
  struct srtp* srtp_rx = nullptr;
  std::array<std::uint8_t, kSrtpKeySalt> local_key{};
  std::array<std::uint8_t, kSrtpKeySalt> remote_key{};
  std::string crypto_tag = "1";
  // A REFER from the peer being followed: its subscription (NOTIFY sipfrag) and the new call.
  struct sipnot* refer_not = nullptr;
  CallId transfer_to = 0;
  // A REFER this agent sent: the subscription that receives the peer's NOTIFYs.
  struct sipsub* refer_sub = nullptr;
  bool refer_done = true;
  bool sending = true;  // false while the peer holds the call (its offer says sendonly/inactive)
  sa remote_rtp{};
  int pt_audio = -1;
  int pt_event = -1;
  bool media_running = false;
  std::unique_ptr<Encoder> encoder;
  std::unique_ptr<Decoder> decoder;
  JitterBuffer jitter{3, 12};
  std::unique_ptr<DtmfSender> dtmf_tx;
  DtmfReceiver dtmf_rx;
  std::shared_ptr<AudioSource> source;
  std::shared_ptr<AudioSink> sink;
  std::uint32_t timestamp = 0;
  bool first_packet = true;
  bool playing = false;
  RtpStats stats;
  // RFC 3550 A.1 / A.8 receive statistics for the audio stream.
  bool seq_init = false;
  std::uint32_t base_seq = 0, max_seq = 0, cycles = 0;
  std::uint64_t audio_received = 0;
  double transit_prev = 0.0;
  double jitter_ticks = 0.0;
  bool have_transit = false;
  tmr no_answer_timer{};
  tmr release_timer{};
  std::vector<std::int16_t> pcm = std::vector<std::int16_t>(kFrameSamples);
  std::vector<std::uint8_t> payload;

  ~CallContext() {
    tmr_cancel(&no_answer_timer);
    tmr_cancel(&release_timer);
    mem_deref(refer_not);  // a subscription still open gets its terminating NOTIFY
    mem_deref(refer_sub);
    mem_deref(sess);  // sends BYE (established) or CANCEL (outgoing, unanswered)
    mem_deref(helper_rtp);
    mem_deref(helper_rtcp);
    mem_deref(rtp);
    mem_deref(srtp_tx);
    mem_deref(srtp_rx);
    mem_deref(sdp);  // owns media
  }
};

class UserAgent::Impl {
 public:
  Impl(UaSettings settings, Handlers handlers) : settings_(std::move(settings)), handlers_(std::move(handlers)) {}

  Status start();
  void stop();

  // Runs fn on the media thread and waits; directly when already on it.
  Status run(const std::function<void()>& fn) const;

  // --- called on the media thread ---
  Status register_account(Account account);
  Result<CallId> call(const std::string& uri);
  Status answer(CallId id);
  Status reject(CallId id, int code);
  Status hangup(CallId id);
  Status send_dtmf(CallId id, std::string_view digits);
  Status transfer(CallId id, const std::string& target);
  CallContext* find(CallId id) const;

  const UaSettings settings_;
  const Handlers handlers_;
  std::map<CallId, std::unique_ptr<CallContext>> calls_;
  int sip_port_ = 0;

 private:
  friend struct Callbacks;
  void thread_main(std::promise<Status>& started);
  Status setup();
  void teardown();
  void shutdown_calls();
  Status configure_tls();

  Status setup_media(CallContext& call);
  void add_crypto(CallContext& call);
  Status apply_remote(CallContext& call, bool offer);
  void start_media(CallContext& call);
  void report(CallContext& call);
  void close_call(CallContext& call, int code, std::string reason);
  void tick();
  void incoming(const sip_msg* msg);
  void refer(CallContext& call, const sip_msg* msg);
  void transfer_report(CallContext& call, int code);
  void transfer_progress(CallContext& call);
  void rtp_received(CallContext& call, const rtp_header& hdr, mbuf* mb);
  void send_frame(CallContext& call);
  void receive_frame(CallContext& call);

  std::shared_ptr<spdlog::logger> log_ = log::get("media");
  std::thread thread_;
  std::atomic<std::thread::id> thread_id_{};
  mutable std::mutex queue_mutex_;
  bool accepting_ = false;  // guarded by queue_mutex_
  struct mqueue* mq_ = nullptr;
  struct tls* tls_ = nullptr;
  struct sip* sip_ = nullptr;
  struct sipsess_sock* sess_sock_ = nullptr;
  struct sipevent_sock* event_sock_ = nullptr;
  struct sipreg* reg_ = nullptr;
  std::optional<Account> account_;
  tmr tick_timer_{};
  tmr stop_timer_{};
  std::uint64_t next_tick_ = 0;
  CallId next_id_ = 1;
  bool stopping_ = false;
};

// C callbacks from libre, all on the media thread.
struct Callbacks {
  static void on_task(int, void* data, void*) {
    std::unique_ptr<Task> task(static_cast<Task*>(data));
    task->fn();
    task->done.set_value();
  }

  static void on_tick(void* arg) { static_cast<UserAgent::Impl*>(arg)->tick(); }

  static void on_stop(void*) { re_cancel(); }

  static int on_auth(char** user, char** pass, const char*, void* arg) {
    auto* ua = static_cast<UserAgent::Impl*>(arg);
    if (!ua->account_) return EAUTH;
    const auto& name = ua->account_->auth_user.empty() ? ua->account_->username : ua->account_->auth_user;
    int err = str_dup(user, name.c_str());
    err |= str_dup(pass, ua->account_->password.c_str());
    return err;
  }

  static void on_register(int err, const sip_msg* msg, void* arg) {
    auto* ua = static_cast<UserAgent::Impl*>(arg);
    if (!ua->handlers_.on_registration) return;
    if (err) {
      ua->handlers_.on_registration(false, 0, errstr(err));
      return;
    }
    if (msg->scode < 200) return;
    const bool ok = msg->scode < 300;
    ua->handlers_.on_registration(ok, msg->scode, pl_string(msg->reason));
  }

  static void on_incoming(const sip_msg* msg, void* arg) {
    static_cast<UserAgent::Impl*>(arg)->incoming(msg);
  }

  static int on_offer(mbuf** descp, const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    // A re-INVITE: follow the new remote description, keep our keys and codec.
    int err = sdp_decode(call->sdp, msg->mb, true);
    if (err) return err;
    if (auto status = call->ua->apply_remote(*call, true); !status) return EPROTO;
    return sdp_encode(descp, call->sdp, false);
  }

  static int on_answer(const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if (call->media_running) return 0;
    int err = sdp_decode(call->sdp, msg->mb, false);
    if (err) {
      call->ua->close_call(*call, 488, "unreadable SDP answer");
      return err;
    }
    if (auto status = call->ua->apply_remote(*call, false); !status) {
      call->ua->close_call(*call, 488, status.error().message);
      return EPROTO;
    }
    return 0;
  }

  static void on_progress(const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if ((msg->scode == 180 || msg->scode == 183) && call->info.state == CallState::calling) {
      call->info.state = CallState::ringing;
      call->ua->report(*call);
    }
  }

  static void on_established(const sip_msg*, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if (call->info.state == CallState::closed) return;
    tmr_cancel(&call->no_answer_timer);
    if (!call->encoder) {
      call->ua->close_call(*call, 488, "no usable media in the answer");
      return;
    }
    call->info.state = CallState::established;
    call->ua->start_media(*call);
    call->ua->report(*call);
  }

  static void on_close(int err, const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if (msg != nullptr && msg->scode >= 300) {
      call->ua->close_call(*call, msg->scode, pl_string(msg->reason));
    } else if (err == ECONNRESET) {
      call->ua->close_call(*call, 0, "remote hangup");
    } else {
      call->ua->close_call(*call, 0, err ? errstr(err) : "closed");
    }
  }

  static void on_refer(struct sip*, const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    call->ua->refer(*call, msg);
  }

  static void on_refer_notify(struct sip* sip, const sip_msg* msg, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    (void)sip_treply(nullptr, sip, msg, 200, "OK");
    // message/sipfrag: "SIP/2.0 <code> <reason>"
    pl code{};
    if (mbuf_get_left(msg->mb) > 0 &&
        re_regex(reinterpret_cast<const char*>(mbuf_buf(msg->mb)), mbuf_get_left(msg->mb), "SIP/2.0 [0-9]+", &code) == 0)
      call->ua->transfer_report(*call, static_cast<int>(pl_u32(&code)));
  }

  static void on_refer_closed(int, const sip_msg* msg, const sipevent_substate*, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    // A refused REFER (e.g. 603) ends the subscription with that response.
    call->ua->transfer_report(*call, msg != nullptr && msg->scode >= 300 ? msg->scode : 0);
  }

  static void on_no_answer(void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if (call->info.state == CallState::established || call->info.state == CallState::closed) return;
    if (call->info.incoming) (void)sipsess_reject(call->sess, 480, "Temporarily Unavailable", nullptr);
    call->ua->close_call(*call, 408, "no answer");
  }

  static void on_release(void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    call->ua->calls_.erase(call->info.id);
  }

  static bool srtp_send(int* err, sa*, mbuf* mb, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    *err = srtp_encrypt(call->srtp_tx, mb);
    return *err != 0;  // true stops the packet
  }

  static bool srtp_recv(sa*, mbuf* mb, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    if (call->srtp_rx == nullptr || srtp_decrypt(call->srtp_rx, mb) != 0) {
      ++call->stats.srtp_failures;
      return true;  // dropped
    }
    return false;
  }

  static bool srtcp_send(int* err, sa*, mbuf* mb, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    *err = srtcp_encrypt(call->srtp_tx, mb);
    return *err != 0;
  }

  static bool srtcp_recv(sa*, mbuf* mb, void* arg) {
    auto* call = static_cast<CallContext*>(arg);
    return call->srtp_rx == nullptr || srtcp_decrypt(call->srtp_rx, mb) != 0;
  }

  static void on_rtp(const sa*, const rtp_header* hdr, mbuf* mb, void* arg) {
    static_cast<CallContext*>(arg)->ua->rtp_received(*static_cast<CallContext*>(arg), *hdr, mb);
  }

  static void on_rtcp(const sa*, rtcp_msg*, void*) {}

  static bool on_crypto(const char*, const char* value, void* arg) {
    auto* out = static_cast<std::vector<std::string>*>(arg);
    out->emplace_back(value);
    return false;
  }
};

// ---------------------------------------------------------------------------------------------
// Thread handoff

Status UserAgent::Impl::run(const std::function<void()>& fn) const {
  if (std::this_thread::get_id() == thread_id_.load()) {
    fn();
    return {};
  }
  auto task = std::make_unique<Task>();
  task->fn = fn;
  auto done = task->done.get_future();
  {
    std::lock_guard lock(queue_mutex_);
    if (!accepting_) return fail(Errc::unavailable, "user agent is stopped");
    if (int err = mqueue_push(mq_, 0, task.get()); err != 0)
      return fail(Errc::unavailable, "cannot reach the media thread: " + errstr(err));
    task.release();
  }
  done.wait();
  return {};
}

Status UserAgent::Impl::start() {
  std::promise<Status> started;
  auto result = started.get_future();
  thread_ = std::thread([this, &started] { thread_main(started); });
  auto status = result.get();
  if (!status) {
    thread_.join();
    return status;
  }
  std::lock_guard lock(queue_mutex_);
  accepting_ = true;
  return {};
}

void UserAgent::Impl::thread_main(std::promise<Status>& started) {
  thread_id_ = std::this_thread::get_id();
  if (int err = re_thread_init(); err != 0) {
    started.set_value(fail(Errc::unavailable, "re_thread_init: " + errstr(err)));
    return;
  }
  // Idempotent process-wide set-up (OpenSSL init, SIGPIPE ignored); never undone here because
  // other agents in the process may still run.
  if (int err = libre_init(); err != 0) {
    re_thread_close();
    started.set_value(fail(Errc::unavailable, "libre_init: " + errstr(err)));
    return;
  }
  auto status = setup();
  if (!status) {
    teardown();
    re_thread_close();
    started.set_value(status);
    return;
  }
  started.set_value(Status{});
  re_main(nullptr);
  teardown();
  re_thread_close();
}

Status UserAgent::Impl::configure_tls() {
  const auto& t = settings_.tls;
  if (t.ca_file.empty() || t.cert_file.empty() || t.key_file.empty() || t.verify_host.empty())
    return fail(Errc::invalid_argument, "tls.ca_file, cert_file, key_file and verify_host are required", "tls");
  if (int err = tls_alloc(&tls_, TLS_METHOD_SSLV23, nullptr, nullptr); err != 0)
    return fail(Errc::internal, "tls_alloc: " + errstr(err));
  SSL_CTX* ctx = tls_openssl_context(tls_);
  if (SSL_CTX_use_certificate_chain_file(ctx, t.cert_file.c_str()) != 1)
    return fail(Errc::invalid_argument, "cannot load certificate " + t.cert_file, "tls.cert_file");
  if (SSL_CTX_use_PrivateKey_file(ctx, t.key_file.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return fail(Errc::invalid_argument, "cannot load private key " + t.key_file, "tls.key_file");
  if (tls_add_ca(tls_, t.ca_file.c_str()) != 0)
    return fail(Errc::invalid_argument, "cannot load CA file " + t.ca_file, "tls.ca_file");
  // libre's SIP transport never verifies the peer (notes/libre-media.md): require a certificate
  // chaining to our CA and matching verify_host, on both the client and the server side.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
  const int ok = is_ip_literal(t.verify_host) ? X509_VERIFY_PARAM_set1_ip_asc(param, t.verify_host.c_str())
                                              : X509_VERIFY_PARAM_set1_host(param, t.verify_host.c_str(), 0);
  if (ok != 1) return fail(Errc::invalid_argument, "invalid verify_host " + t.verify_host, "tls.verify_host");
  ERR_clear_error();
  return {};
}

Status UserAgent::Impl::setup() {
  if (settings_.codecs.empty()) return fail(Errc::invalid_argument, "at least one codec is required", "codecs");
  if (int err = mqueue_alloc(&mq_, Callbacks::on_task, this); err != 0)
    return fail(Errc::unavailable, "mqueue_alloc: " + errstr(err));
  if (auto status = configure_tls(); !status) return status;
  if (int err = sip_alloc(&sip_, nullptr, 32, 32, 32, settings_.user_agent.c_str(), nullptr, nullptr); err != 0)
    return fail(Errc::unavailable, "sip_alloc: " + errstr(err));
  sa laddr{};
  if (sa_set_str(&laddr, settings_.listen_ip.c_str(), static_cast<std::uint16_t>(settings_.sip_port)) != 0)
    return fail(Errc::invalid_argument, "listen_ip is not an IP address", "listen_ip");
  if (int err = sip_transp_add(sip_, SIP_TRANSP_TLS, &laddr, tls_); err != 0)
    return fail(Errc::unavailable, "cannot listen on TLS port: " + errstr(err), "sip_port");
  sa bound{};
  if (int err = sip_transp_laddr(sip_, &bound, SIP_TRANSP_TLS, nullptr); err != 0)
    return fail(Errc::internal, "sip_transp_laddr: " + errstr(err));
  sip_port_ = sa_port(&bound);
  if (int err = sipsess_listen(&sess_sock_, sip_, 32, Callbacks::on_incoming, this); err != 0)
    return fail(Errc::unavailable, "sipsess_listen: " + errstr(err));
  // Notifier side only (NOTIFYs for REFERs we follow); subscriptions are not accepted.
  if (int err = sipevent_listen(&event_sock_, sip_, 32, 32, nullptr, nullptr); err != 0)
    return fail(Errc::unavailable, "sipevent_listen: " + errstr(err));
  tmr_init(&tick_timer_);
  tmr_init(&stop_timer_);
  next_tick_ = tmr_jiffies() + kTickMs;
  tmr_start(&tick_timer_, kTickMs, Callbacks::on_tick, this);
  log_->info("user agent listening tls={}:{}", settings_.listen_ip, sip_port_);
  return {};
}

void UserAgent::Impl::shutdown_calls() {
  stopping_ = true;
  for (auto& [id, call] : calls_) {
    if (call->info.incoming && call->info.state == CallState::ringing && call->sess)
      (void)sipsess_reject(call->sess, 503, "Service Unavailable", nullptr);
  }
  calls_.clear();  // BYE / CANCEL go out from the destructors
}

void UserAgent::Impl::stop() {
  {
    std::lock_guard lock(queue_mutex_);
    if (!accepting_) return;
  }
  (void)run([this] {
    {
      // Tasks queued before this one have run (the queue is FIFO); none can follow it.
      std::lock_guard lock(queue_mutex_);
      accepting_ = false;
    }
    const bool had_work = !calls_.empty() || reg_ != nullptr;
    shutdown_calls();
    reg_ = static_cast<struct sipreg*>(mem_deref(reg_));  // sends REGISTER with expires=0
    tmr_cancel(&tick_timer_);
    // Give the BYEs and the unregistration a moment on the wire before the stack goes away.
    tmr_start(&stop_timer_, had_work ? 300 : 0, Callbacks::on_stop, this);
  });
  thread_.join();
}

void UserAgent::Impl::teardown() {
  calls_.clear();
  tmr_cancel(&tick_timer_);
  tmr_cancel(&stop_timer_);
  reg_ = static_cast<struct sipreg*>(mem_deref(reg_));
  event_sock_ = static_cast<struct sipevent_sock*>(mem_deref(event_sock_));
  sess_sock_ = static_cast<struct sipsess_sock*>(mem_deref(sess_sock_));
  if (sip_ != nullptr) sip_close(sip_, true);
  sip_ = static_cast<struct sip*>(mem_deref(sip_));
  tls_ = static_cast<struct tls*>(mem_deref(tls_));
  mq_ = static_cast<struct mqueue*>(mem_deref(mq_));
}

// ---------------------------------------------------------------------------------------------
// Registration and calls

Status UserAgent::Impl::register_account(Account account) {
  if (account.registrar.empty() || account.domain.empty() || account.username.empty())
    return fail(Errc::invalid_argument, "registrar, domain and username are required", "account");
  if (account.expires <= 0) return fail(Errc::invalid_argument, "expires must be positive", "expires");
  reg_ = static_cast<struct sipreg*>(mem_deref(reg_));
  account_ = std::move(account);
  const std::string aor = "sip:" + account_->username + "@" + account_->domain;
  int err = sipreg_register(&reg_, sip_, account_->registrar.c_str(), aor.c_str(),
                            account_->display_name.empty() ? nullptr : account_->display_name.c_str(), aor.c_str(),
                            static_cast<std::uint32_t>(account_->expires), account_->username.c_str(), nullptr, 0, 0,
                            Callbacks::on_auth, this, false, Callbacks::on_register, this, nullptr, nullptr);
  if (err != 0) return fail(Errc::invalid_argument, "cannot register: " + errstr(err), "registrar");
  return {};
}

CallContext* UserAgent::Impl::find(CallId id) const {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : it->second.get();
}

Status UserAgent::Impl::setup_media(CallContext& call) {
  sa laddr{};
  sa_set_str(&laddr, settings_.listen_ip.c_str(), 0);
  if (int err = rtp_listen(&call.rtp, IPPROTO_UDP, &laddr, static_cast<std::uint16_t>(settings_.rtp_port_min),
                           static_cast<std::uint16_t>(settings_.rtp_port_max), true, Callbacks::on_rtp,
                           Callbacks::on_rtcp, &call);
      err != 0)
    return fail(Errc::unavailable, "no free RTP port: " + errstr(err));
  if (int err = sdp_session_alloc(&call.sdp, &laddr); err != 0)
    return fail(Errc::internal, "sdp_session_alloc: " + errstr(err));
  if (int err = sdp_media_add(&call.media, call.sdp, "audio", sa_port(rtp_local(call.rtp)), "RTP/SAVP"); err != 0)
    return fail(Errc::internal, "sdp_media_add: " + errstr(err));
  if (!settings_.require_srtp) sdp_media_set_alt_protos(call.media, 2, "RTP/SAVP", "RTP/AVP");
  bool wideband_events = false, narrowband_events = false;
  for (Codec codec : settings_.codecs) {
    const CodecInfo& ci = codec_info(codec);
    const std::string id = ci.static_pt >= 0 ? std::to_string(ci.static_pt) : "96";
    const char* params = codec == Codec::opus ? "minptime=10;useinbandfec=1" : nullptr;
    if (int err = sdp_format_add(nullptr, call.media, false, id.c_str(), ci.sdp_name, ci.rtp_clock, ci.channels,
                                 nullptr, nullptr, nullptr, false, params);
        err != 0)
      return fail(Errc::internal, "sdp_format_add: " + errstr(err));
    (ci.rtp_clock == 48000 ? wideband_events : narrowband_events) = true;
  }
  // telephone-event at each codec clock in use (RFC 4733 events share the audio timestamps).
  if (wideband_events)
    sdp_format_add(nullptr, call.media, false, "101", "telephone-event", 48000, 1, nullptr, nullptr, nullptr, false,
                   "0-15");
  if (narrowband_events)
    sdp_format_add(nullptr, call.media, false, "100", "telephone-event", 8000, 1, nullptr, nullptr, nullptr, false,
                   "0-15");
  if (RAND_bytes(call.local_key.data(), static_cast<int>(call.local_key.size())) != 1)
    return fail(Errc::internal, "RAND_bytes failed");
  return {};
}

void UserAgent::Impl::add_crypto(CallContext& call) {
  char b64[64];
  size_t len = sizeof b64 - 1;
  base64_encode(call.local_key.data(), call.local_key.size(), b64, &len);
  b64[len] = '\0';
  sdp_media_set_lattr(call.media, true, "crypto", "%s %s inline:%s", call.crypto_tag.c_str(), kSrtpSuite, b64);
}

// Reads the remote description already decoded into call.sdp: picks the codec (offer: ours by
// rank; answer: the remote's first supported), the telephone-event type at the codec's clock and
// the SRTP keys. On an offer the local formats are trimmed so that the answer names one codec.
Status UserAgent::Impl::apply_remote(CallContext& call, bool offer) {
  struct sdp_media* m = call.media;
  if (sdp_media_rport(m) == 0)
    return fail(Errc::invalid_argument, settings_.require_srtp ? "remote does not offer SRTP (RTP/SAVP)"
                                                               : "no compatible audio stream");
  const bool secure = std::strcmp(sdp_media_proto(m), "RTP/SAVP") == 0;
  if (!secure && settings_.require_srtp) return fail(Errc::invalid_argument, "plain RTP refused");

  // Codec.
  const list* remote = sdp_media_format_lst(m, false);
  auto remote_pt = [&](const char* name, std::uint32_t clock) -> int {
    for (le* e = remote->head; e; e = e->next) {
      const auto* f = static_cast<const sdp_format*>(e->data);
      if (f->name && str_casecmp(f->name, name) == 0 && f->srate == clock) return f->pt;
    }
    return -1;
  };
  std::optional<Codec> chosen = call.info.codec;
  if (!chosen && offer) {
    std::vector<Codec> ranked = settings_.codecs;
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](Codec a, Codec b) { return codec_info(a).rank > codec_info(b).rank; });
    for (Codec c : ranked)
      if (remote_pt(codec_info(c).sdp_name, codec_info(c).rtp_clock) >= 0) {
        chosen = c;
        break;
      }
  } else if (!chosen) {
    for (le* e = remote->head; e && !chosen; e = e->next) {
      const auto* f = static_cast<const sdp_format*>(e->data);
      if (!f->name) continue;
      for (Codec c : settings_.codecs)
        if (str_casecmp(f->name, codec_info(c).sdp_name) == 0 && f->srate == codec_info(c).rtp_clock) {
          chosen = c;
          break;
        }
    }
  }
  if (!chosen) return fail(Errc::invalid_argument, "no common codec");
  const CodecInfo& ci = codec_info(*chosen);
  const int pt = remote_pt(ci.sdp_name, ci.rtp_clock);
  if (pt < 0) return fail(Errc::invalid_argument, "the remote dropped the negotiated codec");
  const int pt_event = remote_pt("telephone-event", ci.rtp_clock);

  // SRTP keys.
  std::array<std::uint8_t, kSrtpKeySalt> remote_key{};
  if (secure) {
    std::vector<std::string> lines;
    sdp_media_rattr_apply(m, "crypto", Callbacks::on_crypto, &lines);
    bool found = false;
    for (const std::string& line : lines) {
      // "<tag> <suite> inline:<base64 key||lifetime|mki>" (RFC 4568)
      const auto sp1 = line.find(' ');
      if (sp1 == std::string::npos) continue;
      const auto sp2 = line.find(' ', sp1 + 1);
      if (sp2 == std::string::npos) continue;
      const std::string tag = line.substr(0, sp1);
      if (line.substr(sp1 + 1, sp2 - sp1 - 1) != kSrtpSuite) continue;
      if (!offer && tag != call.crypto_tag) continue;
      const auto key_start = line.find("inline:", sp2);
      if (key_start == std::string::npos) continue;
      std::string b64 = line.substr(key_start + 7);
      b64 = b64.substr(0, b64.find_first_of("| \r\n"));
      std::array<std::uint8_t, 64> decoded{};
      size_t len = decoded.size();
      if (base64_decode(b64.c_str(), b64.size(), decoded.data(), &len) != 0 || len != kSrtpKeySalt) continue;
      std::copy_n(decoded.begin(), kSrtpKeySalt, remote_key.begin());
      if (offer) call.crypto_tag = tag;
      found = true;
      break;
    }
    if (!found) return fail(Errc::invalid_argument, "no usable a=crypto (" + std::string(kSrtpSuite) + ")");
  }

  if (offer) {
    // Answer with the chosen codec and its telephone-event only.
    const list* local = sdp_media_format_lst(m, true);
    for (le* e = local->head; e; e = e->next) {
      auto* f = static_cast<sdp_format*>(e->data);
      const bool keep = f->name && f->srate == ci.rtp_clock &&
                        (str_casecmp(f->name, ci.sdp_name) == 0 ||
                         (pt_event >= 0 && str_casecmp(f->name, "telephone-event") == 0));
      if (!keep) f->sup = false;
    }
    if (secure) {
      add_crypto(call);
    } else {
      sdp_media_del_lattr(m, "crypto");
    }
  }

  if (call.encoder == nullptr) {
    auto enc = make_encoder(*chosen);
    if (!enc) return tl::unexpected(enc.error());
    auto dec = make_decoder(*chosen);
    if (!dec) return tl::unexpected(dec.error());
    call.encoder = std::move(*enc);
    call.decoder = std::move(*dec);
    call.dtmf_tx = std::make_unique<DtmfSender>(ci.rtp_clock);
    call.info.codec = chosen;
    call.pt_audio = pt;
    call.pt_event = pt_event;
    call.timestamp = 0;
    RAND_bytes(reinterpret_cast<unsigned char*>(&call.timestamp), sizeof call.timestamp);
  }
  call.remote_rtp = *sdp_media_raddr(m);
  // libre keeps the remote direction from our side: a peer's a=sendonly is our recvonly.
  call.sending = (sdp_media_rdir(m) & SDP_SENDONLY) != 0;
  call.info.held = !call.sending;
  // A new offer may bring new keys (RFC 4568 section 7.1.4): receive with them from now on.
  if (secure && call.srtp_rx != nullptr && remote_key != call.remote_key) {
    struct srtp* fresh = nullptr;
    if (srtp_alloc(&fresh, SRTP_AES_CM_128_HMAC_SHA1_80, remote_key.data(), kSrtpKeySalt, 0) != 0)
      return fail(Errc::internal, "srtp_alloc failed");
    mem_deref(call.srtp_rx);
    call.srtp_rx = fresh;
  }
  if (secure) call.remote_key = remote_key;

  if (secure && call.srtp_tx == nullptr) {
    if (srtp_alloc(&call.srtp_tx, SRTP_AES_CM_128_HMAC_SHA1_80, call.local_key.data(), kSrtpKeySalt, 0) != 0 ||
        srtp_alloc(&call.srtp_rx, SRTP_AES_CM_128_HMAC_SHA1_80, remote_key.data(), kSrtpKeySalt, 0) != 0)
      return fail(Errc::internal, "srtp_alloc failed");
    auto* us = static_cast<struct udp_sock*>(rtp_sock(call.rtp));
    auto* us_rtcp = static_cast<struct udp_sock*>(rtcp_sock(call.rtp));
    int err = udp_register_helper(&call.helper_rtp, us, kSrtpLayer, Callbacks::srtp_send, Callbacks::srtp_recv, &call);
    if (us_rtcp != nullptr)
      err |= udp_register_helper(&call.helper_rtcp, us_rtcp, kSrtpLayer, Callbacks::srtcp_send, Callbacks::srtcp_recv,
                                 &call);
    if (err != 0) return fail(Errc::internal, "udp_register_helper failed");
  }
  call.info.srtp = secure;
  return {};
}

void UserAgent::Impl::start_media(CallContext& call) { call.media_running = call.encoder != nullptr; }

void UserAgent::Impl::report(CallContext& call) {
  if (call.info.transferred_from != 0) transfer_progress(call);
  if (handlers_.on_call_state) handlers_.on_call_state(call.info);
}

// REFER inside a call (RFC 3515): 202, a subscription reporting the new call as
// message/sipfrag, and the new call to the Refer-To URI through the same account.
void UserAgent::Impl::refer(CallContext& call, const sip_msg* msg) {
  if (!handlers_.on_transfer || stopping_) {
    (void)sip_reply(sip_, msg, 603, "Decline");
    return;
  }
  if (call.info.state != CallState::established) {
    (void)sip_reply(sip_, msg, 403, "Call Not Established");
    return;
  }
  if (call.refer_not != nullptr) {
    (void)sip_reply(sip_, msg, 491, "Request Pending");
    return;
  }
  const sip_hdr* hdr = sip_msg_hdr(msg, SIP_HDR_REFER_TO);
  sip_addr addr{};
  if (hdr == nullptr || sip_addr_decode(&addr, &hdr->val) != 0) {
    (void)sip_reply(sip_, msg, 400, "Bad Refer-To");
    return;
  }
  // Blind transfer only: URI headers (Replaces=... of an attended transfer) are not followed.
  std::string target = pl_string(addr.auri);
  target = target.substr(0, target.find('?'));
  const std::string cuser = account_ ? account_->username : "carillon";
  if (int err = sipevent_accept(&call.refer_not, event_sock_, msg, sipsess_dialog(call.sess), nullptr, 202, "Accepted",
                                60, 60, 60, cuser.c_str(), "message/sipfrag", Callbacks::on_auth, this, false, nullptr,
                                nullptr, nullptr);
      err != 0) {
    (void)sip_reply(sip_, msg, 500, "Internal Error");
    return;
  }
  (void)sipevent_notifyf(call.refer_not, nullptr, SIPEVENT_ACTIVE, SIPEVENT_DEACTIVATED, 0, "SIP/2.0 100 Trying\r\n");
  log_->info("call id={} referred to {}", call.info.id, target);
  auto placed = this->call(target);
  if (!placed) {
    (void)sipevent_notifyf(call.refer_not, nullptr, SIPEVENT_TERMINATED, SIPEVENT_NORESOURCE, 0,
                           "SIP/2.0 503 Service Unavailable\r\n");
    return;
  }
  CallContext* next = find(*placed);
  next->info.transferred_from = call.info.id;
  call.transfer_to = *placed;
  handlers_.on_transfer(call.info.id, next->info);
}

Status UserAgent::Impl::transfer(CallId id, const std::string& target) {
  CallContext* call = find(id);
  if (call == nullptr || call->info.state == CallState::closed) return fail(Errc::not_found, "no such call", "id");
  if (call->info.state != CallState::established) return fail(Errc::conflict, "the call is not established", "id");
  if (!call->refer_done) return fail(Errc::conflict, "a transfer of this call is still running", "id");
  if (target.rfind("sip:", 0) != 0 && target.rfind("sips:", 0) != 0)
    return fail(Errc::invalid_argument, "target must start with sip: or sips:", "target");
  if (target.find_first_of("<>\r\n") != std::string::npos)
    return fail(Errc::invalid_argument, "target is not a URI", "target");
  call->refer_sub = static_cast<struct sipsub*>(mem_deref(call->refer_sub));
  const std::string cuser = account_ ? account_->username : "carillon";
  if (int err = sipevent_drefer(&call->refer_sub, event_sock_, sipsess_dialog(call->sess), cuser.c_str(),
                                Callbacks::on_auth, this, false, Callbacks::on_refer_notify,
                                Callbacks::on_refer_closed, call, "Refer-To: <%s>\r\n", target.c_str());
      err != 0)
    return fail(Errc::internal, "cannot send REFER: " + errstr(err));
  call->refer_done = false;
  log_->info("call id={} transferred to {}", id, target);
  return {};
}

void UserAgent::Impl::transfer_report(CallContext& call, int code) {
  if (call.refer_done) return;
  if (code == 0 || code >= 200) call.refer_done = true;
  if (handlers_.on_transfer_progress) handlers_.on_transfer_progress(call.info.id, code);
}

// Reports the progress of a call placed for a REFER to the referring peer; when it is answered
// the transferred call ends.
void UserAgent::Impl::transfer_progress(CallContext& next) {
  CallContext* original = find(next.info.transferred_from);
  if (original == nullptr || original->transfer_to != next.info.id || original->refer_not == nullptr) return;
  switch (next.info.state) {
    case CallState::calling:
      break;
    case CallState::ringing:
      (void)sipevent_notifyf(original->refer_not, nullptr, SIPEVENT_ACTIVE, SIPEVENT_DEACTIVATED, 0,
                             "SIP/2.0 180 Ringing\r\n");
      break;
    case CallState::established:
      (void)sipevent_notifyf(original->refer_not, nullptr, SIPEVENT_TERMINATED, SIPEVENT_NORESOURCE, 0,
                             "SIP/2.0 200 OK\r\n");
      original->transfer_to = 0;
      close_call(*original, 0, "transferred");
      break;
    case CallState::closed: {
      const int code = next.info.close_code >= 300 ? next.info.close_code : 487;
      const std::string reason = next.info.close_code >= 300 ? next.info.close_reason : "Request Terminated";
      (void)sipevent_notifyf(original->refer_not, nullptr, SIPEVENT_TERMINATED, SIPEVENT_NORESOURCE, 0,
                             "SIP/2.0 %d %s\r\n", code, reason.c_str());
      // The transferred call goes on; the peer may try again.
      original->refer_not = static_cast<struct sipnot*>(mem_deref(original->refer_not));
      original->transfer_to = 0;
      break;
    }
  }
}

// Ends a call once: reports it and frees it later from a zero-delay timer (never inside a libre
// handler of its own session).
void UserAgent::Impl::close_call(CallContext& call, int code, std::string reason) {
  if (call.info.state == CallState::closed) return;
  call.media_running = false;
  call.info.state = CallState::closed;
  call.info.close_code = code;
  call.info.close_reason = std::move(reason);
  tmr_cancel(&call.no_answer_timer);
  log_->info("call closed id={} code={} reason={}", call.info.id, code, call.info.close_reason);
  report(call);
  tmr_start(&call.release_timer, 0, Callbacks::on_release, &call);
}

void UserAgent::Impl::incoming(const sip_msg* msg) {
  if (stopping_) {
    (void)sip_treply(nullptr, sip_, msg, 503, "Service Unavailable");
    return;
  }
  if (mbuf_get_left(msg->mb) == 0) {
    // Late offer (INVITE without SDP) is not supported: every peer we serve sends an offer.
    (void)sip_treply(nullptr, sip_, msg, 488, "Offer Required");
    return;
  }
  auto call = std::make_unique<CallContext>();
  call->ua = this;
  call->info.id = next_id_++;
  call->info.incoming = true;
  call->info.peer = pl_string(msg->from.auri);
  call->info.sip_call_id = pl_string(msg->callid);
  call->info.state = CallState::ringing;
  tmr_init(&call->no_answer_timer);
  tmr_init(&call->release_timer);
  Status status = setup_media(*call);
  if (status) {
    if (sdp_decode(call->sdp, msg->mb, true) != 0) status = fail(Errc::invalid_argument, "unreadable SDP offer");
  }
  if (status) status = apply_remote(*call, true);
  if (!status) {
    log_->info("incoming call refused call_id={} reason={}", call->info.sip_call_id, status.error().message);
    (void)sip_treplyf(nullptr, nullptr, sip_, msg, false, 488, "Not Acceptable Here", "Warning: 399 carillon \"%s\"\r\nContent-Length: 0\r\n\r\n",
                      status.error().message.c_str());
    return;
  }
  const std::string cuser = account_ ? account_->username : "carillon";
  int err = sipsess_accept(&call->sess, sess_sock_, msg, 180, "Ringing", cuser.c_str(), "application/sdp", nullptr,
                           Callbacks::on_auth, this, false, Callbacks::on_offer, Callbacks::on_answer,
                           Callbacks::on_established, nullptr, Callbacks::on_refer, Callbacks::on_close, call.get(), nullptr);
  if (err != 0) {
    (void)sip_treply(nullptr, sip_, msg, 500, "Internal Error");
    return;
  }
  tmr_start(&call->no_answer_timer, static_cast<std::uint64_t>(settings_.no_answer_timeout_s) * 1000,
            Callbacks::on_no_answer, call.get());
  CallContext& ref = *call;
  calls_.emplace(ref.info.id, std::move(call));
  log_->info("incoming call id={} from={} codec={}", ref.info.id, ref.info.peer, to_string(*ref.info.codec));
  if (handlers_.on_incoming) handlers_.on_incoming(ref.info);
}

Result<CallId> UserAgent::Impl::call(const std::string& uri) {
  if (stopping_) return fail(Errc::unavailable, "user agent is stopping");
  if (uri.rfind("sip:", 0) != 0 && uri.rfind("sips:", 0) != 0)
    return fail(Errc::invalid_argument, "URI must start with sip: or sips:", "uri");
  auto call = std::make_unique<CallContext>();
  call->ua = this;
  call->info.id = next_id_++;
  call->info.incoming = false;
  call->info.peer = uri;
  call->info.state = CallState::calling;
  tmr_init(&call->no_answer_timer);
  tmr_init(&call->release_timer);
  if (auto status = setup_media(*call); !status) return tl::unexpected(status.error());
  add_crypto(*call);
  mbuf* offer = nullptr;
  if (int err = sdp_encode(&offer, call->sdp, true); err != 0)
    return fail(Errc::internal, "sdp_encode: " + errstr(err));
  std::unique_ptr<mbuf, MemDeref<mbuf>> offer_ref(offer);

  std::string from, cuser, route;
  const char* routev[1] = {nullptr};
  std::uint32_t routec = 0;
  if (account_) {
    from = "sip:" + account_->username + "@" + account_->domain;
    cuser = account_->username;
    // The registrar is also the outbound proxy (loose routing). libre writes the Route header
    // itself ("Route: <%s;lr>"): pass the bare URI.
    route = account_->registrar;
    routev[0] = route.c_str();
    routec = 1;
  } else {
    from = "sip:carillon@" + settings_.listen_ip;
    cuser = "carillon";
  }
  const char* display = account_ && !account_->display_name.empty() ? account_->display_name.c_str() : nullptr;
  int err = sipsess_connect(&call->sess, sess_sock_, uri.c_str(), display, from.c_str(), cuser.c_str(),
                            routec ? routev : nullptr, routec, "application/sdp", offer, Callbacks::on_auth, this,
                            false, Callbacks::on_offer, Callbacks::on_answer, Callbacks::on_progress,
                            Callbacks::on_established, nullptr, Callbacks::on_refer, Callbacks::on_close, call.get(), nullptr);
  if (err != 0) return fail(Errc::invalid_argument, "cannot call " + uri + ": " + errstr(err), "uri");
  call->info.sip_call_id = sip_dialog_callid(sipsess_dialog(call->sess));
  tmr_start(&call->no_answer_timer, static_cast<std::uint64_t>(settings_.no_answer_timeout_s) * 1000,
            Callbacks::on_no_answer, call.get());
  const CallId id = call->info.id;
  calls_.emplace(id, std::move(call));
  log_->info("outgoing call id={} to={}", id, uri);
  return id;
}

Status UserAgent::Impl::answer(CallId id) {
  CallContext* call = find(id);
  if (call == nullptr || call->info.state == CallState::closed) return fail(Errc::not_found, "no such call", "id");
  if (!call->info.incoming || call->info.state != CallState::ringing)
    return fail(Errc::conflict, "call is not an incoming call waiting for an answer", "id");
  mbuf* desc = nullptr;
  if (int err = sdp_encode(&desc, call->sdp, false); err != 0)
    return fail(Errc::internal, "sdp_encode: " + errstr(err));
  std::unique_ptr<mbuf, MemDeref<mbuf>> desc_ref(desc);
  if (int err = sipsess_answer(call->sess, 200, "OK", desc, nullptr); err != 0)
    return fail(Errc::internal, "sipsess_answer: " + errstr(err));
  tmr_cancel(&call->no_answer_timer);
  // Media flows from now on; the ACK confirms the dialog (on_established) but RTP may start at once.
  call->info.state = CallState::established;
  start_media(*call);
  report(*call);
  return {};
}

Status UserAgent::Impl::reject(CallId id, int code) {
  CallContext* call = find(id);
  if (call == nullptr || call->info.state == CallState::closed) return fail(Errc::not_found, "no such call", "id");
  if (!call->info.incoming || call->info.state != CallState::ringing)
    return fail(Errc::conflict, "only a ringing incoming call can be rejected", "id");
  if (code < 300 || code > 699) return fail(Errc::invalid_argument, "code must be 3xx-6xx", "code");
  const char* reason = code == 486 ? "Busy Here" : code == 603 ? "Decline" : code == 480 ? "Temporarily Unavailable" : "Rejected";
  (void)sipsess_reject(call->sess, static_cast<std::uint16_t>(code), reason, nullptr);
  close_call(*call, code, reason);
  return {};
}

Status UserAgent::Impl::hangup(CallId id) {
  CallContext* call = find(id);
  if (call == nullptr) return fail(Errc::not_found, "no such call", "id");
  if (call->info.state == CallState::closed) return {};
  if (call->info.incoming && call->info.state == CallState::ringing) {
    (void)sipsess_reject(call->sess, 480, "Temporarily Unavailable", nullptr);
  }
  close_call(*call, 0, "local hangup");  // BYE/CANCEL when the call is freed
  return {};
}

Status UserAgent::Impl::send_dtmf(CallId id, std::string_view digits) {
  CallContext* call = find(id);
  if (call == nullptr || call->info.state == CallState::closed) return fail(Errc::not_found, "no such call", "id");
  if (call->dtmf_tx == nullptr || call->pt_event < 0)
    return fail(Errc::conflict, "the peer did not negotiate telephone-event at the codec clock", "id");
  return call->dtmf_tx->queue(digits);
}

// ---------------------------------------------------------------------------------------------
// Media

void UserAgent::Impl::rtp_received(CallContext& call, const rtp_header& hdr, mbuf* mb) {
  if (!call.encoder) return;
  const std::span<const std::uint8_t> payload(mbuf_buf(mb), mbuf_get_left(mb));
  ++call.stats.packets_received;
  call.stats.bytes_received += payload.size();
  if (static_cast<int>(hdr.pt) == call.pt_event) {
    if (auto digit = call.dtmf_rx.receive(hdr.ts, payload); digit && handlers_.on_dtmf)
      handlers_.on_dtmf(call.info.id, *digit);
    return;
  }
  if (static_cast<int>(hdr.pt) != call.pt_audio) return;
  // RFC 3550 A.1 (simplified: no probation) and A.8.
  const std::uint16_t seq = hdr.seq;
  if (!call.seq_init) {
    call.seq_init = true;
    call.base_seq = seq;
    call.max_seq = seq;
  } else {
    const std::uint16_t delta = static_cast<std::uint16_t>(seq - call.max_seq);
    if (delta < 0x8000) {
      if (seq < call.max_seq) call.cycles += 0x10000;
      call.max_seq = seq;
    }
  }
  ++call.audio_received;
  const std::uint64_t expected = call.cycles + call.max_seq - call.base_seq + 1;
  call.stats.packets_lost = expected > call.audio_received ? expected - call.audio_received : 0;
  const double clock = codec_info(*call.info.codec).rtp_clock;
  const double arrival =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() * clock;
  const double transit = arrival - static_cast<double>(hdr.ts);
  if (call.have_transit) {
    const double d = std::abs(transit - call.transit_prev);
    call.jitter_ticks += (d - call.jitter_ticks) / 16.0;
  }
  call.have_transit = true;
  call.transit_prev = transit;
  call.stats.jitter_ms = call.jitter_ticks * 1000.0 / clock;
  call.jitter.put(seq, payload);
}

void UserAgent::Impl::send_frame(CallContext& call) {
  std::span<std::int16_t> frame(call.pcm);
  if (call.source) {
    call.source->read(frame);
  } else {
    std::fill(frame.begin(), frame.end(), 0);
  }
  if (!call.sending) {
    // On hold: the source keeps its pace and the timestamps their clock; the first packet after
    // resuming carries the marker bit.
    call.timestamp += rtp_ticks_per_frame(*call.info.codec);
    call.first_packet = true;
    return;
  }
  if (!call.encoder->encode(frame, call.payload)) return;
  mbuf* mb = mbuf_alloc(RTP_HEADER_SIZE + call.payload.size() + 16);
  if (mb == nullptr) return;
  std::unique_ptr<mbuf, MemDeref<mbuf>> ref(mb);
  auto send = [&](bool marker, int pt, std::uint32_t ts, std::span<const std::uint8_t> bytes) {
    mb->pos = RTP_HEADER_SIZE;
    mb->end = RTP_HEADER_SIZE;
    mbuf_write_mem(mb, bytes.data(), bytes.size());
    mb->pos = RTP_HEADER_SIZE;
    if (rtp_send(call.rtp, &call.remote_rtp, false, marker, static_cast<std::uint8_t>(pt), ts, mb) == 0) {
      ++call.stats.packets_sent;
      call.stats.bytes_sent += bytes.size();
    }
  };
  send(call.first_packet, call.pt_audio, call.timestamp, call.payload);
  call.first_packet = false;
  if (call.dtmf_tx && call.pt_event >= 0) {
    for (const auto& packet : call.dtmf_tx->tick(call.timestamp))
      send(packet.marker, call.pt_event, packet.timestamp, packet.payload);
  }
  call.timestamp += rtp_ticks_per_frame(*call.info.codec);
}

void UserAgent::Impl::receive_frame(CallContext& call) {
  std::span<std::int16_t> frame(call.pcm);
  switch (call.jitter.pop(call.payload)) {
    case JitterBuffer::Pop::frame:
      if (!call.decoder->decode(call.payload, frame)) call.decoder->conceal(frame);
      call.playing = true;
      break;
    case JitterBuffer::Pop::lost:
      call.decoder->conceal(frame);
      break;
    case JitterBuffer::Pop::empty:
      if (!call.playing) return;
      std::fill(frame.begin(), frame.end(), 0);
      break;
  }
  if (call.sink) call.sink->write(frame);
}

void UserAgent::Impl::tick() {
  // Absolute deadlines: a late tick does not shift the following ones.
  const std::uint64_t now = tmr_jiffies();
  next_tick_ += kTickMs;
  if (next_tick_ + 5 * kTickMs < now) next_tick_ = now + kTickMs;  // far behind: resynchronise
  tmr_start(&tick_timer_, next_tick_ > now ? next_tick_ - now : 0, Callbacks::on_tick, this);
  for (auto& [id, call] : calls_) {
    if (!call->media_running) continue;
    send_frame(*call);
    receive_frame(*call);
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

UserAgent::UserAgent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

UserAgent::~UserAgent() { impl_->stop(); }

Result<std::unique_ptr<UserAgent>> UserAgent::start(UaSettings settings, Handlers handlers) {
  if (settings.sip_port < 0 || settings.sip_port > 65535)
    return fail(Errc::invalid_argument, "sip_port out of range", "sip_port");
  if (settings.rtp_port_min < 1024 || settings.rtp_port_max > 65535 || settings.rtp_port_min + 2 > settings.rtp_port_max)
    return fail(Errc::invalid_argument, "invalid RTP port range", "rtp_port_min");
  auto impl = std::make_unique<Impl>(std::move(settings), std::move(handlers));
  if (auto status = impl->start(); !status) return tl::unexpected(status.error());
  return std::unique_ptr<UserAgent>(new UserAgent(std::move(impl)));
}

Status UserAgent::register_account(Account account) {
  Status result;
  auto status = impl_->run([&] { result = impl_->register_account(std::move(account)); });
  return status ? result : status;
}

Result<CallId> UserAgent::call(const std::string& uri) {
  Result<CallId> result = fail(Errc::internal, "not run");
  auto status = impl_->run([&] { result = impl_->call(uri); });
  if (!status) return tl::unexpected(status.error());
  return result;
}

Status UserAgent::answer(CallId id) {
  Status result;
  auto status = impl_->run([&] { result = impl_->answer(id); });
  return status ? result : status;
}

Status UserAgent::reject(CallId id, int code) {
  Status result;
  auto status = impl_->run([&] { result = impl_->reject(id, code); });
  return status ? result : status;
}

Status UserAgent::hangup(CallId id) {
  Status result;
  auto status = impl_->run([&] { result = impl_->hangup(id); });
  return status ? result : status;
}

Status UserAgent::send_dtmf(CallId id, std::string_view digits) {
  Status result;
  auto status = impl_->run([&] { result = impl_->send_dtmf(id, digits); });
  return status ? result : status;
}

Status UserAgent::transfer(CallId id, const std::string& target) {
  Status result;
  auto status = impl_->run([&] { result = impl_->transfer(id, target); });
  return status ? result : status;
}

namespace {
// Runs `change` on call `id` on the media thread; not_found if there is no such call.
template <class F>
Status with_call(UserAgent::Impl& impl, CallId id, F&& change) {
  Status result;
  auto status = impl.run([&] {
    CallContext* call = impl.find(id);
    if (call == nullptr) {
      result = fail(Errc::not_found, "no such call", "id");
      return;
    }
    change(*call);
  });
  return status ? result : status;
}
}  // namespace

Status UserAgent::set_source(CallId id, std::shared_ptr<AudioSource> source) {
  return with_call(*impl_, id, [&](CallContext& call) { call.source = std::move(source); });
}

Status UserAgent::set_sink(CallId id, std::shared_ptr<AudioSink> sink) {
  return with_call(*impl_, id, [&](CallContext& call) { call.sink = std::move(sink); });
}

Result<RtpStats> UserAgent::stats(CallId id) const {
  Result<RtpStats> result = fail(Errc::not_found, "no such call", "id");
  auto status = impl_->run([&] {
    if (CallContext* call = impl_->find(id)) result = call->stats;
  });
  if (!status) return tl::unexpected(status.error());
  return result;
}

std::optional<CallInfo> UserAgent::info(CallId id) const {
  std::optional<CallInfo> result;
  (void)impl_->run([&] {
    if (CallContext* call = impl_->find(id)) result = call->info;
  });
  return result;
}

std::vector<CallInfo> UserAgent::calls() const {
  std::vector<CallInfo> result;
  (void)impl_->run([&] {
    for (const auto& [id, call] : impl_->calls_)
      if (call->info.state != CallState::closed) result.push_back(call->info);
  });
  return result;
}

int UserAgent::sip_port() const { return impl_->sip_port_; }

}  // namespace carillon::media
