#pragma once

#include "aggregation/robust_rule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

namespace fedgan::aggregation::test {

/// One update per entry, every entry the same length.
using Rows = std::vector<std::vector<float>>;

/// An aggregate and its verdicts.
struct Outcome {
  std::vector<float> out;
  std::vector<UpdateVerdict> verdicts;
};

/// Options for `kind` with the other fields at their defaults.
inline RobustRuleOptions options_for(RuleKind kind) {
  RobustRuleOptions options;
  options.kind = kind;
  return options;
}

/// Runs `rule` on `rows` (num_columns columns: rows may be empty) read in blocks of `block`
/// columns (0: all of them in one block).
inline Outcome run(RobustRule& rule, const Rows& rows, size_t num_columns, size_t block = 0,
                   uint64_t seed = 0) {
  std::vector<const float*> pointers;
  for (const auto& row : rows) pointers.push_back(row.data());
  const auto matrix =
      matrix_over(pointers, num_columns, block == 0 ? std::max<size_t>(num_columns, 1) : block);
  Outcome outcome;
  outcome.out.assign(num_columns, -12345.0f);
  outcome.verdicts = rule.aggregate(*matrix, seed, outcome.out.data());
  return outcome;
}

/// A fresh rule for `options` on `rows` (at least one row).
inline Outcome run(const RobustRuleOptions& options, const Rows& rows, size_t block = 0,
                   uint64_t seed = 0) {
  const auto rule = make_robust_rule(options);
  return run(*rule, rows, rows.at(0).size(), block, seed);
}

/// n rows of d values drawn from N(0, 1).
inline Rows normal_rows(std::mt19937& gen, size_t n, size_t d) {
  std::normal_distribution<float> value(0.0f, 1.0f);
  Rows rows(n, std::vector<float>(d));
  for (auto& row : rows) {
    for (float& x : row) x = value(gen);
  }
  return rows;
}

/// n rows of d multiples of 1/64 in [-4, 4]: their sums in double are exact in any order, so a
/// mean does not depend on the rows' order.
inline Rows dyadic_rows(std::mt19937& gen, size_t n, size_t d) {
  std::uniform_int_distribution<int> step(-256, 256);
  Rows rows(n, std::vector<float>(d));
  for (auto& row : rows) {
    for (float& x : row) x = static_cast<float>(step(gen)) / 64.0f;
  }
  return rows;
}

/// How the attackers of property tests pick their updates.
enum class Attack {
  kHuge,      ///< every value +-1e30 (random signs)
  kTiny,      ///< every value 1e-30
  kSignFlip,  ///< -4 times an honest update
  kAlie,      ///< "a little is enough": honest mean - 1.5 honest std per coordinate, all alike
  kFarNoise,  ///< N(0, 1000^2) per value, independent
};

constexpr Attack kEveryAttack[] = {Attack::kHuge, Attack::kTiny, Attack::kSignFlip, Attack::kAlie,
                                   Attack::kFarNoise};

/// A round with attackers: the honest rows and f attacker rows at random positions.
struct Round {
  Rows rows;
  std::vector<bool> attacker;  // per row
};

inline std::vector<float> attacker_row(const Rows& honest, Attack attack, std::mt19937& gen) {
  const size_t d = honest[0].size();
  std::vector<float> row(d);
  std::uniform_int_distribution<int> coin(0, 1);
  std::normal_distribution<float> noise(0.0f, 1000.0f);
  std::uniform_int_distribution<size_t> pick(0, honest.size() - 1);
  const std::vector<float>& victim = honest[pick(gen)];
  for (size_t c = 0; c < d; ++c) {
    double mean = 0.0;
    double squares = 0.0;
    for (const auto& h : honest) mean += h[c];
    mean /= static_cast<double>(honest.size());
    for (const auto& h : honest) squares += (h[c] - mean) * (h[c] - mean);
    const double std_dev = std::sqrt(squares / static_cast<double>(honest.size()));
    switch (attack) {
      case Attack::kHuge:
        row[c] = coin(gen) == 0 ? 1e30f : -1e30f;
        break;
      case Attack::kTiny:
        row[c] = 1e-30f;
        break;
      case Attack::kSignFlip:
        row[c] = -4.0f * victim[c];
        break;
      case Attack::kAlie:
        row[c] = static_cast<float>(mean - 1.5 * std_dev);
        break;
      case Attack::kFarNoise:
        row[c] = noise(gen);
        break;
    }
  }
  return row;
}

/// `honest` with f attacker rows inserted at random positions; `identical` makes the attackers
/// collude on one row (kAlie always does).
inline Round with_attackers(const Rows& honest, size_t f, Attack attack, std::mt19937& gen,
                            bool identical = false) {
  Round round;
  round.rows = honest;
  round.attacker.assign(honest.size(), false);
  const std::vector<float> alike = attacker_row(honest, attack, gen);
  for (size_t k = 0; k < f; ++k) {
    std::uniform_int_distribution<size_t> position(0, round.rows.size());
    const size_t at = position(gen);
    const bool same = identical || attack == Attack::kAlie;
    round.rows.insert(round.rows.begin() + at, same ? alike : attacker_row(honest, attack, gen));
    round.attacker.insert(round.attacker.begin() + at, true);
  }
  return round;
}

/// Squared Euclidean distance between two rows, in double.
inline double squared_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0.0;
  for (size_t c = 0; c < a.size(); ++c) {
    const double difference = static_cast<double>(a[c]) - static_cast<double>(b[c]);
    sum += difference * difference;
  }
  return sum;
}

/// Expects every out[c] within [min, max] of the honest rows' values of column c.
inline void expect_within_honest_range(const Round& round, const std::vector<float>& out) {
  for (size_t c = 0; c < out.size(); ++c) {
    float low = std::numeric_limits<float>::infinity();
    float high = -low;
    for (size_t i = 0; i < round.rows.size(); ++i) {
      if (round.attacker[i]) continue;
      low = std::min(low, round.rows[i][c]);
      high = std::max(high, round.rows[i][c]);
    }
    EXPECT_GE(out[c], low) << "column " << c;
    EXPECT_LE(out[c], high) << "column " << c;
  }
}

/// The effects of `verdicts`, for comparing whole rounds at once.
inline std::vector<UpdateEffect> effects(const std::vector<UpdateVerdict>& verdicts) {
  std::vector<UpdateEffect> out;
  for (const UpdateVerdict& verdict : verdicts) out.push_back(verdict.effect);
  return out;
}

/// The weights of `verdicts`.
inline std::vector<double> weights(const std::vector<UpdateVerdict>& verdicts) {
  std::vector<double> out;
  for (const UpdateVerdict& verdict : verdicts) out.push_back(verdict.weight);
  return out;
}

}  // namespace fedgan::aggregation::test
