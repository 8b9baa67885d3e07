#include "protocol/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <mutex>

namespace fedgan::protocol {
namespace {

void keep_fatal_only(google::protobuf::LogLevel level, const char* filename, int line,
                     const std::string& message) {
  if (level != google::protobuf::LOGLEVEL_FATAL) return;
  std::fprintf(stderr, "[libprotobuf FATAL %s:%d] %s\n", filename, line, message.c_str());
}

}  // namespace

void silence_protobuf_parse_logs() {
  // libprotobuf's handler is process-wide by design; installing it once is the only option.
  static std::once_flag installed;
  std::call_once(installed, [] { google::protobuf::SetLogHandler(&keep_fatal_only); });
}

}  // namespace fedgan::protocol
