#include "common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace carillon {

Result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::not_found, "cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Status write_file(const std::filesystem::path& path, const std::string& content, std::filesystem::perms perms) {
  auto tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(perms));
  if (fd < 0) return fail(Errc::internal, "cannot write " + tmp.string() + ": " + std::strerror(errno));
  // open() applies the umask; set the exact mode asked for.
  if (::fchmod(fd, static_cast<mode_t>(perms)) != 0) {
    ::close(fd);
    return fail(Errc::internal, "cannot chmod " + tmp.string());
  }
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return fail(Errc::internal, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(Errc::internal, "cannot rename " + tmp.string() + ": " + ec.message());
  return {};
}

}  // namespace carillon
