// Writes finished flows as CSV (the CIC column order, with a header) or JSON lines, to a file
// or to stdout. A file is written under "<path>.partial" and renamed to <path> when the writer
// is closed (also when an error unwinds it), so a reader never sees a half-written file and
// the flows written before an error are kept.
#pragma once
#include <cstdio>
#include <string>

#include "flow/features.h"
#include "flow/flow_table.h"

namespace metaids::flow {

enum class OutputFormat { csv, jsonl };

struct WriterOptions {
  OutputFormat format = OutputFormat::csv;
  std::string path;            // empty or "-": stdout
  bool extra_columns = false;  // append "Bwd Act Data Pkts" and "Bwd Seg Size Min"
};

class FlowWriter : public FlowSink {
 public:
  explicit FlowWriter(const WriterOptions& options);
  ~FlowWriter() override;
  FlowWriter(const FlowWriter&) = delete;
  FlowWriter& operator=(const FlowWriter&) = delete;

  void on_flow(const FlowState& flow, FlowEnd reason) override;
  void flush();  // pushes buffered rows to the file (or stdout)
  void close();  // flushes, fsyncs and renames a file into place; idempotent
  uint64_t flows_written() const { return flows_written_; }

 private:
  void write_header();
  WriterOptions options_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = false;
  std::string partial_path_;
  std::string buffer_;
  uint64_t flows_written_ = 0;
};

// One output row (without newline) for `flow`, in the given format.
std::string format_flow(const FlowState& flow, OutputFormat format, bool extra_columns);
// The CSV header line (without newline).
std::string csv_header(bool extra_columns);

}  // namespace metaids::flow
