#include "storage/records.h"

#include "storage/error.h"

#include <chrono>

namespace fedgan::storage {

double unix_seconds_now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

std::string bounded_text(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::string suffix = fmt::format("... ({} bytes)", text.size());
  if (suffix.size() > max_bytes) suffix.clear();  // no room to say how long it was
  size_t keep = max_bytes - suffix.size();
  // Back up over UTF-8 continuation bytes (top bits 10) so no character is cut in half.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  return std::string(text.substr(0, keep)) + suffix;
}

std::string_view to_string(RoundStatus status) {
  switch (status) {
    case RoundStatus::kRunning:
      return "running";
    case RoundStatus::kCommitted:
      return "committed";
    case RoundStatus::kFailed:
      return "failed";
    case RoundStatus::kAborted:
      return "aborted";
  }
  return "unknown";
}

RoundStatus parse_round_status(std::string_view text) {
  for (auto status : {RoundStatus::kRunning, RoundStatus::kCommitted, RoundStatus::kFailed,
                      RoundStatus::kAborted}) {
    if (text == to_string(status)) return status;
  }
  throw StorageError(fmt::format("unknown round status '{}'", text));
}

std::string_view to_string(RuleEffect effect) {
  switch (effect) {
    case RuleEffect::kKept:
      return "kept";
    case RuleEffect::kDownWeighted:
      return "down_weighted";
    case RuleEffect::kClipped:
      return "clipped";
    case RuleEffect::kExcluded:
      return "excluded";
  }
  return "unknown";
}

std::string_view to_string(EventLevel level) {
  switch (level) {
    case EventLevel::kDebug:
      return "debug";
    case EventLevel::kInfo:
      return "info";
    case EventLevel::kWarning:
      return "warning";
    case EventLevel::kError:
      return "error";
  }
  return "unknown";
}

EventLevel parse_event_level(std::string_view text) {
  for (auto level :
       {EventLevel::kDebug, EventLevel::kInfo, EventLevel::kWarning, EventLevel::kError}) {
    if (text == to_string(level)) return level;
  }
  throw StorageError(fmt::format("unknown event level '{}'", text));
}

}  // namespace fedgan::storage
