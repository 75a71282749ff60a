#pragma once
// A real baresip 1.0 process as an independent SIP/SRTP peer for media tests: config and account
// in a temp dir, SIP over TLS on 127.0.0.1, auto-answer, a sine source and a WAV recorder.
// Stopped (SIGTERM, then SIGKILL) in the destructor.

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace carillon::testing {

class BaresipPeer {
 public:
  struct Options {
    std::string ca_file;        // CA that signed the certificates of the peers it talks to
    std::string cert_key_file;  // PEM with this peer's certificate followed by its key
    double tone_hz = 1000;      // what it plays (ausine, 48 kHz stereo)
    std::string codecs = "opus/48000/2,G722/16000/1,PCMA/8000/1,PCMU/8000/1";
    std::string mediaenc = "srtp-mand";  // empty: plain RTP
  };
  BaresipPeer(const std::filesystem::path& dir, Options options);
  ~BaresipPeer();
  BaresipPeer(const BaresipPeer&) = delete;
  BaresipPeer& operator=(const BaresipPeer&) = delete;

  unsigned short tls_port() const { return tls_port_; }
  std::string uri() const;  // sip:bob@127.0.0.1:<tls port>;transport=tls
  // The WAV file (sndfile module) baresip recorded what it heard into; empty if none yet.
  std::filesystem::path recording() const;
  std::string log() const;
  // Stops the process now (flushes the recording).
  void stop();

 private:
  std::filesystem::path dir_;
  unsigned short tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace carillon::testing
