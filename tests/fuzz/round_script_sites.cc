#include "tests/fuzz/round_script_sites.h"

#include "protocol/frame.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

namespace fedgan::testing {
namespace {

constexpr const char* kIdentities[] = {"site-1", "site-2", "site-3", "site-4"};
constexpr float kFloatMax = std::numeric_limits<float>::max();

// Elements of the model a task describes (its manifest's shapes; float32 tensors only).
size_t elements_of(const wire::Manifest& manifest) {
  size_t count = 0;
  for (const auto& spec : manifest.tensors()) {
    size_t n = 1;
    for (const int64_t dim : spec.shape()) n *= static_cast<size_t>(std::max<int64_t>(dim, 0));
    count += n;
  }
  return count;
}

// The raw float32 bytes of a delta of `elements` values following `pattern`: 0 zeros, 1 small, 2
// large, 3 near the float maximum, 4 the maximum, 5 its negative, 6 small with one NaN, 7 small
// with one infinity (at `where`). Cached: every task of a script has the same model.
std::string delta_bytes(size_t elements, size_t pattern, size_t where) {
  static std::map<std::pair<size_t, size_t>, std::string> cache;
  const size_t base = pattern >= 6 ? 1 : pattern;
  auto& bytes = cache[{elements, base}];
  if (bytes.empty()) {
    std::vector<float> values(elements);
    for (size_t i = 0; i < elements; ++i) {
      const float wave = std::sin(static_cast<float>(i) * 0.37f);
      switch (base) {
        case 0:
          values[i] = 0.0f;
          break;
        case 1:
          values[i] = 1e-3f * wave;
          break;
        case 2:
          values[i] = 1e3f * wave;
          break;
        case 3:
          values[i] = 3e38f;
          break;
        case 4:
          values[i] = kFloatMax;
          break;
        default:
          values[i] = -kFloatMax;
          break;
      }
    }
    bytes.assign(reinterpret_cast<const char*>(values.data()), elements * sizeof(float));
  }
  if (pattern < 6 || elements == 0) return bytes;
  std::string tainted = bytes;
  const float bad = pattern == 6 ? std::numeric_limits<float>::quiet_NaN()
                                 : -std::numeric_limits<float>::infinity();
  std::memcpy(tainted.data() + (where % elements) * sizeof(float), &bad, sizeof bad);
  return tainted;
}

}  // namespace

SiteBook::SiteBook(boost::asio::io_context& io, coordinator::Coordinator& coordinator)
    : io_(io), coordinator_(coordinator), trace_(std::getenv("FEDGAN_FUZZ_TRACE") != nullptr) {}

SiteState& SiteBook::site(FuzzInput& in) {
  const std::string identity = kIdentities[in.pick(4)];
  SiteState& state = sites_[identity];
  if (!state.connection) connect(state, identity);
  return state;
}

void SiteBook::connect(SiteState& site, const std::string& identity) {
  if (site.connection) site.earlier.push_back(site.connection);
  site.connection = std::make_shared<MemoryConnection>(io_, identity);
  site.task.reset();
  site.upload_tainted = false;
  coordinator_.adopt(site.connection);
}

void SiteBook::act(FuzzInput& in) {
  SiteState& s = site(in);
  const size_t action = in.pick(12);
  if (trace_)
    std::fprintf(stderr, "%s: action %zu\n", s.connection->peer_identity().c_str(), action);
  switch (action) {
    case 0:
      return connect(s, s.connection->peer_identity());  // a second connection
    case 1:
    case 2:
      return hello(s, in);
    case 3:
      return s.connection->drop();
    case 4:  // a whole honest-looking upload of some pattern
      header(s, in, false);
      chunks(s, in, in.pick(8), true);
      return transfer_end(s);
    case 5:
      return header(s, in, in.flag());
    case 6:
      return chunks(s, in, in.pick(8), in.flag());
    case 7:
      return fuzzed_chunk(s, in);
    case 8:
      return transfer_end(s);
    case 9: {
      wire::Envelope goodbye;
      goodbye.mutable_goodbye()->mutable_status()->set_message(in.bytes(64));
      return deliver(s, goodbye);
    }
    default:
      return stray(s, in);
  }
}

void SiteBook::hello(SiteState& site, FuzzInput& in) {
  wire::Envelope message;
  auto* hello = message.mutable_hello();
  const uint64_t samples[] = {0, 100, 100'000'000, std::numeric_limits<uint64_t>::max()};
  hello->set_num_samples(in.flag() ? samples[in.pick(4)] : in.u64());
  if (in.pick(8) != 0) hello->add_codecs(wire::CODEC_FP32);
  if (in.flag()) hello->add_codecs(static_cast<wire::Codec>(in.byte()));
  hello->set_device(in.bytes(80));
  // Mostly the current version (an older one is refused at once); the same bytes as before.
  const uint64_t minor = in.u64();
  hello->set_minor_version(minor % 4 == 0 ? static_cast<uint32_t>(minor >> 2)
                                          : protocol::kProtocolMinorVersion);
  deliver(site, message);
}

void SiteBook::header(SiteState& site, FuzzInput& in, bool tamper) {
  wire::Envelope message;
  auto* header = message.mutable_update();
  if (site.task) {
    header->set_round(site.task->round());
    header->set_nonce(site.task->nonce());
    *header->mutable_delta() = site.task->model();
  }
  header->set_num_samples(in.flag() ? 100 : in.u64() % 1000);
  (*header->mutable_metrics())["generator_loss"] = 0.5;
  (*header->mutable_metrics())["train_seconds"] = 1.0;
  if (tamper) {
    switch (in.pick(8)) {
      case 0:
        header->set_round(header->round() + 1 - in.pick(3));
        break;
      case 1:
        header->set_nonce(in.bytes(24));
        break;
      case 2:
        header->set_num_samples(in.u64());
        break;
      case 3:
        (*header->mutable_metrics())[in.bytes(8)] = in.f64();
        break;
      case 4:
        if (header->delta().tensors_size() > 0)
          header->mutable_delta()->mutable_tensors()->RemoveLast();
        break;
      case 5:
        if (header->delta().tensors_size() > 0) {
          header->mutable_delta()->mutable_tensors(0)->set_shape(0, static_cast<int64_t>(in.u64()));
        }
        break;
      case 6:
        header->mutable_delta()->set_total_bytes(in.u64());
        break;
      default: {
        // Another site's task: its round and nonce.
        for (const auto& [identity, other] : sites_) {
          if (&other != &site && other.task) header->set_nonce(other.task->nonce());
        }
      }
    }
  }
  site.upload_tainted = false;
  deliver(site, message);
}

void SiteBook::chunks(SiteState& site, FuzzInput& in, size_t pattern, bool whole) {
  if (!site.task) return;
  const size_t sizes[] = {64 * 1024, 1 << 20, 4 << 20};
  const size_t chunk_bytes = sizes[in.pick(3)];
  const std::string bytes =
      delta_bytes(elements_of(site.task->model()), pattern, static_cast<size_t>(in.u64()));
  const size_t end = whole ? bytes.size() : std::min(bytes.size(), chunk_bytes * (1 + in.pick(3)));
  if (pattern >= 6) site.upload_tainted = true;
  for (size_t offset = 0; offset < end && site.connection->open(); offset += chunk_bytes) {
    wire::Envelope message;
    message.mutable_chunk()->set_offset(offset);
    message.mutable_chunk()->set_data(bytes.substr(offset, std::min(chunk_bytes, end - offset)));
    deliver(site, message);
  }
}

void SiteBook::fuzzed_chunk(SiteState& site, FuzzInput& in) {
  wire::Envelope message;
  message.mutable_chunk()->set_offset(in.flag() ? in.u64() : in.pick(64) * 4);
  const std::string data = in.bytes(4096);
  // Whatever floats these bytes make, they may be NaN or infinite.
  for (size_t i = 0; i + 4 <= data.size(); i += 4) {
    float value;
    std::memcpy(&value, data.data() + i, sizeof value);
    if (!std::isfinite(value)) site.upload_tainted = true;
  }
  message.mutable_chunk()->set_data(data);
  deliver(site, message);
}

void SiteBook::transfer_end(SiteState& site) {
  wire::Envelope message;
  message.mutable_transfer_end();
  deliver(site, message);
}

void SiteBook::stray(SiteState& site, FuzzInput& in) {
  wire::Envelope message;
  switch (in.pick(4)) {
    case 0:
      message.mutable_heartbeat()->set_unix_ms(static_cast<int64_t>(in.u64()));
      break;
    case 1:
      message.mutable_task()->set_round(in.u64());
      break;
    case 2:
      message.mutable_ack()->mutable_status()->set_code(wire::STATUS_OK);
      break;
    default:
      message.mutable_hello()->add_codecs(wire::CODEC_FP32);
      break;
  }
  deliver(site, message);
}

// As the transport delivers: heartbeats are consumed, a Goodbye ends the connection.
void SiteBook::deliver(SiteState& site, wire::Envelope message) {
  if (!site.connection->open()) return;
  if (message.has_heartbeat()) return;
  if (message.has_goodbye()) return site.connection->drop();
  site.connection->deliver(std::move(message));
}

void SiteBook::read_replies() {
  for (auto& [identity, site] : sites_) {
    if (!site.connection) continue;
    auto& sent = site.connection->sent();
    while (!sent.empty()) {
      const wire::Envelope message = std::move(sent.front());
      sent.pop_front();
      if (trace_) {
        std::fprintf(stderr, "  -> %s: %s\n", identity.c_str(),
                     message.ShortDebugString().substr(0, 160).c_str());
      }
      if (message.has_task()) {
        site.task = message.task();
        continue;
      }
      if (!message.has_ack()) continue;
      const auto& ack = message.ack();
      if (ack.stage() == wire::ACK_STAGE_ADMISSION) ++site.admission_answers;
      if (ack.stage() == wire::ACK_STAGE_VERDICT && ack.status().code() == wire::STATUS_OK) {
        ++site.verdicts_ok;
        if (site.upload_tainted) site.non_finite_accepted = true;
      }
    }
  }
}

void SiteBook::leave_all() {
  for (auto& [identity, site] : sites_) {
    for (auto& connection : site.earlier) connection->drop();
    if (site.connection) site.connection->drop();
  }
}

}  // namespace fedgan::testing
