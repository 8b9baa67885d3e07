#include "storage/database.h"
#include "storage/error.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace fedgan::storage {
namespace {

using testing::TempDir;

TEST(Database, FileDatabaseUsesWalForeignKeysAndFullSync) {
  TempDir dir;
  Database db((dir / "a.db").string());
  EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.query_int("PRAGMA foreign_keys"), 1);
  EXPECT_EQ(db.query_int("PRAGMA synchronous"), 2);  // FULL
  EXPECT_GT(db.query_int("PRAGMA busy_timeout"), 0);
}

TEST(Database, ForeignKeysAreEnforced) {
  Database db(":memory:");
  db.execute(
      "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
      "CREATE TABLE child (parent INTEGER NOT NULL REFERENCES parent (id))");
  try {
    db.execute("INSERT INTO child VALUES (42)");
    FAIL() << "insert without parent accepted";
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find("FOREIGN KEY constraint failed"), std::string::npos);
    EXPECT_NE(error.sqlite_code(), 0);
  }
}

TEST(Database, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const auto path = dir / "not.db";
  std::ofstream(path) << "this is a text file, long enough to have a header of sorts.......";
  try {
    Database db(path.string());
    FAIL() << "opened a text file";
  } catch (const StorageError& error) {
    EXPECT_NE(std::string(error.what()).find("not a database"), std::string::npos) << error.what();
  }
}

TEST(Database, ReadOnlyDoesNotCreateAFile) {
  TempDir dir;
  EXPECT_THROW(Database((dir / "missing.db").string(), {5000, true}), StorageError);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));
}

TEST(Statement, BindsAndReadsEveryType) {
  Database db(":memory:");
  db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, n INTEGER, b INTEGER, x REAL)");
  db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(int64_t{-9007199254740993}, 0.1, std::string("héllo\0x", 8), std::nullopt, true,
                std::numeric_limits<double>::quiet_NaN())
      .run();
  auto s = db.prepare("SELECT i, r, s, n, b, x FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column<int64_t>(0), -9007199254740993);
  EXPECT_EQ(s.column<double>(1), 0.1);
  EXPECT_EQ(s.column<std::string>(2), std::string("héllo\0x", 8));
  EXPECT_EQ(s.column<std::optional<int64_t>>(3), std::nullopt);
  EXPECT_TRUE(s.column<bool>(4));
  EXPECT_TRUE(s.is_null(5));  // NaN is stored as NULL
  EXPECT_FALSE(s.step());
}

TEST(Statement, BindsOptionalsAndInfinity) {
  Database db(":memory:");
  db.execute("CREATE TABLE t (a REAL, b TEXT)");
  const std::optional<double> inf = std::numeric_limits<double>::infinity();
  const std::optional<std::string> none;
  db.prepare("INSERT INTO t VALUES (?, ?)").bind_all(inf, none).run();
  auto s = db.prepare("SELECT a, b FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_TRUE(std::isinf(s.column<double>(0)));
  EXPECT_EQ(s.column<std::optional<std::string>>(1), std::nullopt);
}

TEST(Statement, ErrorsNameTheStatementAndTheProblem) {
  Database db(":memory:");
  try {
    db.prepare("SELECT no_such_column FROM sqlite_schema");
    FAIL();
  } catch (const StorageError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("no such column: no_such_column"), std::string::npos) << message;
    EXPECT_NE(message.find("SELECT no_such_column FROM sqlite_schema"), std::string::npos);
  }
  EXPECT_THROW(db.prepare("SELEC 1"), StorageError);
  EXPECT_THROW(db.prepare("SELECT 1; SELECT 2"), StorageError);  // the second would be ignored
  EXPECT_NO_THROW(db.prepare("SELECT 1;  \n"));
}

TEST(Statement, ResetAllowsReuse) {
  Database db(":memory:");
  db.execute("CREATE TABLE t (v INTEGER)");
  auto insert = db.prepare("INSERT INTO t VALUES (?)");
  for (int v = 0; v < 5; ++v) {
    insert.bind(1, v).run();
    insert.reset();
  }
  EXPECT_EQ(db.query_int("SELECT sum(v) FROM t"), 10);
}

TEST(Transaction, CommitMakesChangesVisible) {
  TempDir dir;
  const std::string path = (dir / "t.db").string();
  {
    Database db(path);
    db.execute("CREATE TABLE t (v INTEGER)");
    Transaction transaction(db);
    db.execute("INSERT INTO t VALUES (1)");
    EXPECT_TRUE(db.in_transaction());
    transaction.commit();
    EXPECT_FALSE(db.in_transaction());
  }
  Database reopened(path);
  EXPECT_EQ(reopened.query_int("SELECT count(*) FROM t"), 1);
}

TEST(Transaction, DeferredSkipsOnlyItsOwnFsyncAndRestoresFullSync) {
  TempDir dir;
  const std::string path = (dir / "a.db").string();
  Database db(path);
  db.execute("CREATE TABLE t (x INTEGER)");
  {
    Transaction deferred(db, Durability::kDeferred);
    EXPECT_EQ(db.query_int("PRAGMA synchronous"), 1);  // NORMAL for this commit
    db.execute("INSERT INTO t VALUES (1)");
    deferred.commit();
  }
  EXPECT_EQ(db.query_int("PRAGMA synchronous"), 2);
  Database reader(path, {});
  EXPECT_EQ(reader.query_int("SELECT count(*) FROM t"), 1);  // committed, visible

  {  // rolled back: nothing stays, and the connection is FULL again
    Transaction deferred(db, Durability::kDeferred);
    db.execute("INSERT INTO t VALUES (2)");
  }
  EXPECT_EQ(db.query_int("PRAGMA synchronous"), 2);
  EXPECT_EQ(reader.query_int("SELECT count(*) FROM t"), 1);

  {  // nested, the outer transaction decides: still FULL
    Transaction outer(db);
    Transaction inner(db, Durability::kDeferred);
    EXPECT_EQ(db.query_int("PRAGMA synchronous"), 2);
    db.execute("INSERT INTO t VALUES (3)");
    inner.commit();
    outer.commit();
  }
  EXPECT_EQ(reader.query_int("SELECT count(*) FROM t"), 2);
}

TEST(Transaction, AnExceptionMidwayLeavesNothingBehind) {
  Database db(":memory:");
  db.execute("CREATE TABLE t (v INTEGER NOT NULL)");
  EXPECT_THROW(
      {
        Transaction transaction(db);
        db.execute("INSERT INTO t VALUES (1)");
        db.execute("INSERT INTO t VALUES (2)");
        db.execute("INSERT INTO t VALUES (NULL)");  // throws: NOT NULL
        transaction.commit();
      },
      StorageError);
  EXPECT_FALSE(db.in_transaction());
  EXPECT_EQ(db.query_int("SELECT count(*) FROM t"), 0);

  EXPECT_THROW(
      {
        Transaction transaction(db);
        db.execute("INSERT INTO t VALUES (3)");
        throw std::runtime_error("caller failed between statements");
      },
      std::runtime_error);
  EXPECT_EQ(db.query_int("SELECT count(*) FROM t"), 0);
}

TEST(Transaction, NestedTransactionRollsBackOnlyItsOwnChanges) {
  Database db(":memory:");
  db.execute("CREATE TABLE t (v INTEGER)");
  Transaction outer(db);
  db.execute("INSERT INTO t VALUES (1)");
  {
    Transaction inner(db);
    db.execute("INSERT INTO t VALUES (2)");
  }  // rolled back to the savepoint
  {
    Transaction inner(db);
    db.execute("INSERT INTO t VALUES (3)");
    inner.commit();
  }
  EXPECT_TRUE(db.in_transaction());
  outer.commit();
  EXPECT_EQ(db.query_int("SELECT sum(v) FROM t"), 4);
}

TEST(Transaction, CommitTwiceIsRefused) {
  Database db(":memory:");
  Transaction transaction(db);
  transaction.commit();
  EXPECT_THROW(transaction.commit(), StorageError);
}

}  // namespace
}  // namespace fedgan::storage
