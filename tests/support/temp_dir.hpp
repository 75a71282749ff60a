#pragma once
// A fresh directory under /tmp, removed with everything in it when the object goes away.

#include <filesystem>

namespace carillon::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
unsigned short free_port();

// Whether something accepts TCP connections on 127.0.0.1:port (a service is listening).
bool tcp_port_open(unsigned short port);

}  // namespace carillon::testing
