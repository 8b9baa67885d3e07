#include "coordinator/update_validator.h"

#include <gtest/gtest.h>

#include <limits>

namespace fedgan::coordinator {
namespace {

wire::Manifest manifest() {
  wire::Manifest m;
  auto* t = m.add_tensors();
  t->set_name("generator.w");
  t->set_dtype(wire::DTYPE_FLOAT32);
  t->add_shape(2);
  t->add_shape(3);
  m.set_codec(wire::CODEC_FP32);
  m.set_total_bytes(24);
  return m;
}

RoundRoster roster() {
  AggregationOptions options;
  options.min_samples = 1;
  options.max_samples = 1000;
  return RoundRoster(4, {{"site-1", "nonce-1"}, {"site-2", "nonce-2"}}, manifest(), options);
}

wire::UpdateHeader header(uint64_t round, const std::string& nonce, uint64_t samples = 10) {
  wire::UpdateHeader h;
  h.set_round(round);
  h.set_nonce(nonce);
  h.set_num_samples(samples);
  *h.mutable_delta() = manifest();
  return h;
}

wire::StatusCode refusal(RoundRoster& r, const std::string& who, const wire::UpdateHeader& h) {
  try {
    r.admit(who, h);
  } catch (const protocol::ProtocolError& e) {
    return e.code();
  }
  return wire::STATUS_OK;
}

TEST(RoundRoster, AdmitsTheSelectedClientOnceWithItsNonce) {
  auto r = roster();
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-1")), wire::STATUS_OK);
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-1")), wire::STATUS_DUPLICATE_UPDATE);
}

TEST(RoundRoster, EachViolationHasItsStatus) {
  auto r = roster();
  EXPECT_EQ(refusal(r, "site-1", header(3, "nonce-1")), wire::STATUS_WRONG_ROUND);
  EXPECT_EQ(refusal(r, "site-9", header(4, "nonce-1")), wire::STATUS_NOT_SELECTED);
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-2")), wire::STATUS_STALE_NONCE);
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-1", 0)), wire::STATUS_SAMPLE_COUNT);
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-1", 1001)), wire::STATUS_SAMPLE_COUNT);
  auto reshaped = header(4, "nonce-1");
  reshaped.mutable_delta()->mutable_tensors(0)->set_shape(1, 4);
  EXPECT_EQ(refusal(r, "site-1", reshaped), wire::STATUS_MANIFEST_SHAPE);
  auto fp16 = header(4, "nonce-1");
  fp16.mutable_delta()->set_codec(wire::CODEC_FP16);
  fp16.mutable_delta()->set_total_bytes(12);
  EXPECT_EQ(refusal(r, "site-1", fp16), wire::STATUS_MALFORMED);  // not the federation's codec
  // None of the refusals used up site-1's one upload.
  EXPECT_EQ(refusal(r, "site-1", header(4, "nonce-1")), wire::STATUS_OK);
}

TEST(RoundRoster, CountsAcceptedAndOutstandingClients) {
  auto r = roster();
  EXPECT_EQ(r.outstanding(), 2u);
  r.admit("site-1", header(4, "nonce-1"));
  EXPECT_EQ(r.outstanding(), 2u);  // uploading still counts
  r.finish("site-1", true);
  EXPECT_EQ(r.accepted(), 1u);
  EXPECT_EQ(r.outstanding(), 1u);
  r.drop("site-2");
  EXPECT_EQ(r.outstanding(), 0u);
  r.drop("site-1");  // already finished: stays accepted
  EXPECT_EQ(r.accepted(), 1u);
}

TEST(DeltaNorm, NoBoundWithinBoundClipOrReject) {
  AggregationOptions options;
  options.norm_policy = NormPolicy::kReject;
  EXPECT_TRUE(check_delta_norm(1e9, std::nullopt, options).accept);
  EXPECT_DOUBLE_EQ(check_delta_norm(1.5, 2.0, options).scale, 1.0);
  try {
    check_delta_norm(4.0, 2.0, options);
    FAIL() << "a delta over the bound was not refused";
  } catch (const protocol::ProtocolError& e) {
    EXPECT_EQ(e.code(), wire::STATUS_NORM_BOUND);
    EXPECT_STREQ(e.what(), "delta L2 norm 4 exceeds the bound 2");
  }
  options.norm_policy = NormPolicy::kClip;
  const auto verdict = check_delta_norm(4.0, 2.0, options);
  EXPECT_TRUE(verdict.accept);
  EXPECT_DOUBLE_EQ(verdict.scale, 0.5);
  try {
    check_delta_norm(std::numeric_limits<double>::infinity(), std::nullopt, options);
    FAIL() << "a non-finite norm was not refused";
  } catch (const protocol::ProtocolError& e) {
    EXPECT_EQ(e.code(), wire::STATUS_NON_FINITE);
  }
}

}  // namespace
}  // namespace fedgan::coordinator
