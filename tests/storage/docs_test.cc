// docs/storage.md is part of the product: its twelve queries must run against the real schema, and
// every column, index and trigger must be documented.
#include "storage/error.h"
#include "storage/schema.h"
#include "tests/storage/test_util.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fedgan::storage {
namespace {

std::string read_docs() {
  std::ifstream in(std::string(FEDGAN_SOURCE_DIR) + "/docs/storage.md");
  EXPECT_TRUE(in.is_open()) << "docs/storage.md is missing";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The ```sql blocks between the queries:begin and queries:end markers.
std::vector<std::string> documented_queries(const std::string& docs) {
  const size_t begin = docs.find("<!-- queries:begin -->");
  const size_t end = docs.find("<!-- queries:end -->");
  EXPECT_NE(begin, std::string::npos);
  EXPECT_NE(end, std::string::npos);
  std::vector<std::string> queries;
  const std::string open = "```sql\n";
  for (size_t at = docs.find(open, begin); at != std::string::npos && at < end;
       at = docs.find(open, at)) {
    at += open.size();
    const size_t close = docs.find("```", at);
    queries.push_back(docs.substr(at, close - at));
    at = close + 3;
  }
  return queries;
}

// The text of the "### `table`" section.
std::string table_section(const std::string& docs, const std::string& table) {
  const size_t begin = docs.find("### `" + table + "`");
  if (begin == std::string::npos) return "";
  return docs.substr(begin, docs.find("\n### ", begin + 1) - begin);
}

std::vector<std::string> names(Database& db, const std::string& sql) {
  auto statement = db.prepare(sql);
  std::vector<std::string> out;
  while (statement.step()) out.push_back(statement.column<std::string>(0));
  return out;
}

TEST(StorageDocs, TwelveQueriesRunOnAPopulatedDatabaseAndReturnRows) {
  const std::vector<std::string> queries = documented_queries(read_docs());
  ASSERT_EQ(queries.size(), 12u);
  testing::TempDir dir;
  Database db = open_database((dir / "fedgan.db").string());
  testing::populate_sample_run(db);
  db.execute("PRAGMA query_only = ON");  // the queries are for reading
  for (size_t i = 0; i < queries.size(); ++i) {
    SCOPED_TRACE(fmt::format("query {}:\n{}", i + 1, queries[i]));
    try {
      Statement statement = db.prepare(queries[i]);
      int rows = 0;
      while (statement.step()) {
        ++rows;
        for (int c = 0; c < statement.column_count(); ++c) statement.column<std::string>(c);
      }
      EXPECT_GT(rows, 0) << "the query returns nothing on the sample run";
    } catch (const StorageError& error) {
      ADD_FAILURE() << error.what();
    }
  }
}

TEST(StorageDocs, EveryColumnIsDocumentedUnderItsTable) {
  const std::string docs = read_docs();
  Database db = open_database(":memory:");
  for (const std::string& table :
       names(db,
             "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
             "'sqlite_%' ORDER BY name")) {
    const std::string section = table_section(docs, table);
    ASSERT_FALSE(section.empty()) << "no section for table " << table;
    for (const std::string& column :
         names(db, fmt::format("SELECT name FROM pragma_table_info('{}')", table))) {
      EXPECT_NE(section.find("| `" + column + "` |"), std::string::npos)
          << table << "." << column << " is not documented";
    }
  }
}

TEST(StorageDocs, EveryIndexAndTriggerIsDocumented) {
  const std::string docs = read_docs();
  Database db = open_database(":memory:");
  for (const std::string& name :
       names(db,
             "SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger') AND name "
             "NOT LIKE 'sqlite_%'")) {
    EXPECT_NE(docs.find("`" + name + "`"), std::string::npos) << name << " is not documented";
  }
}

}  // namespace
}  // namespace fedgan::storage
