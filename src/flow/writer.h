// Writes finished flows as CSV (the CIC column order, with a header) or JSON lines, through
// core/atomic_file.h's OutputFile: "-" (or no path), a character device, a FIFO or a socket
// is streamed; a regular file (or a new one, or a symlink's target) is written under a unique
// temporary name and renamed into place by close(), so a reader never sees a half-written
// file and two runs to one path never mix. A writer destroyed without close() (an error
// unwinding it) removes its temporary and leaves what was at the path.
#pragma once
#include <optional>
#include <string>

#include "core/atomic_file.h"
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
  void flush();  // pushes buffered rows to the output (a streamed reader sees them now)
  void close();  // flushes and commits: a file is fsync'ed and renamed into place; idempotent
  // For log rotation (SIGHUP): a file output is closed as above and a new one begun at the
  // same path, header first (rotate the file away, then signal: the rows since the last
  // reopen appear at the path). A streamed output is only flushed. Not for a signal handler.
  void reopen();
  uint64_t flows_written() const { return flows_written_; }
  // Whether the output is written directly ("-", a device, a FIFO) rather than replaced.
  bool streamed() const { return output_.has_value() && output_->streamed(); }

 private:
  void open_output();
  void write_header();
  WriterOptions options_;
  std::optional<OutputFile> output_;  // empty after close()
  std::string buffer_;
  uint64_t flows_written_ = 0;
};

// One output row (without newline) for `flow`, in the given format.
std::string format_flow(const FlowState& flow, OutputFormat format, bool extra_columns);
// The CSV header line (without newline).
std::string csv_header(bool extra_columns);

}  // namespace metaids::flow
