#pragma once

#include <fstream>
#include <string>

namespace fedgan::bench {

/// A field of /proc/self/status ("VmRSS", "VmHWM") in bytes; -1 when it cannot be read.
inline double proc_status_bytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == field + ":") {
      double kib = -1;
      status >> kib;
      return kib * 1024.0;
    }
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

}  // namespace fedgan::bench
