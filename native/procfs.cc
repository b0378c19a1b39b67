#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"

namespace vfio {

std::string ReadProcFile(Napi::Env env, const char* path) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) ThrowSystemError(env, errno, "open", nullptr, path);
  std::string text;
  char chunk[4096];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      ThrowSystemError(env, err, "read", nullptr, path);
    }
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
  return text;
}

bool ProcField(const std::string& text, const char* key, std::string* value) {
  const size_t keyLength = strlen(key);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end - pos > keyLength && text.compare(pos, keyLength, key) == 0 &&
        text[pos + keyLength] == ':') {
      size_t start = pos + keyLength + 1;
      while (start < end && (text[start] == ' ' || text[start] == '\t')) start++;
      value->assign(text, start, end - start);
      return true;
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace vfio
