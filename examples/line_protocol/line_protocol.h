// A small line protocol, the kind of code a user of aio writes and wants to test: every
// "\n"-terminated line is answered upper-cased; "QUIT" closes the connection; a connection
// that sends nothing for `idle_timeout` seconds is told "BYE idle" and closed. Lines longer than
// `max_line` are an error: the connection is aborted.
#ifndef AIO_EXAMPLES_LINE_PROTOCOL_LINE_PROTOCOL_H_
#define AIO_EXAMPLES_LINE_PROTOCOL_LINE_PROTOCOL_H_

#include <cctype>
#include <cstddef>
#include <optional>
#include <string>

#include "loop/loop.h"
#include "net/protocols.h"
#include "net/transports.h"

namespace example {

class UpperLineProtocol : public aio::Protocol {
 public:
  explicit UpperLineProtocol(double idle_timeout = 30, std::size_t max_line = 1024)
      : idle_timeout_(idle_timeout), max_line_(max_line) {}

  void connection_made(aio::Transport& transport) override {
    transport_ = &transport;
    arm_idle_timer();
  }
  void data_received(std::span<const std::byte> data) override {
    pending_.append(reinterpret_cast<const char*>(data.data()), data.size());
    arm_idle_timer();
    for (std::size_t end; (end = pending_.find('\n')) != std::string::npos;) {
      std::string line = pending_.substr(0, end);
      pending_.erase(0, end + 1);
      if (line == "QUIT") {
        transport_->close();
        return;
      }
      for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      transport_->write(line + "\n");
    }
    if (pending_.size() > max_line_) transport_->abort();
  }
  void connection_lost(std::exception_ptr) override {
    idle_.cancel();
    transport_ = nullptr;
  }

 private:
  void arm_idle_timer() {
    idle_.cancel();
    idle_ = aio::get_running_loop().call_later(idle_timeout_, [this] {
      if (transport_ == nullptr) return;
      transport_->write(std::string_view("BYE idle\n"));
      transport_->close();
    });
  }

  double idle_timeout_;
  std::size_t max_line_;
  aio::Transport* transport_ = nullptr;
  std::string pending_;
  aio::TimerHandle idle_;
};

}  // namespace example

#endif  // AIO_EXAMPLES_LINE_PROTOCOL_LINE_PROTOCOL_H_
