// The consumer's own protocol: echoes every byte back, upper-cased.
#pragma once

#include <cctype>
#include <span>
#include <string>

#include "net/net.h"

namespace consumer {

class UpperEcho : public aio::Protocol {
 public:
  void connection_made(aio::Transport& transport) override { transport_ = &transport; }
  void data_received(std::span<const std::byte> data) override {
    std::string reply(reinterpret_cast<const char*>(data.data()), data.size());
    for (char& c : reply) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    transport_->write(reply);
  }

 private:
  aio::Transport* transport_ = nullptr;
};

}  // namespace consumer
