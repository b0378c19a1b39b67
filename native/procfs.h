// Reading "Key:   value" lines from /proc files (/proc/self/status, /proc/meminfo).
#ifndef VFIO_SPAPR_PROCFS_H_
#define VFIO_SPAPR_PROCFS_H_

#include <napi.h>

#include <string>

namespace vfio {

// The whole file; throws a NativeError (syscall 'open' / 'read', path) on failure.
std::string ReadProcFile(Napi::Env env, const char* path);

// The text after "key:" on the line that starts with it, leading blanks removed;
// false when no line has that key.
bool ProcField(const std::string& text, const char* key, std::string* value);

}  // namespace vfio

#endif  // VFIO_SPAPR_PROCFS_H_
