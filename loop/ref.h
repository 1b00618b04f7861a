// aio::internal::Ref<T>: an owning pointer to an object that counts its own references
// (add_ref/drop_ref), as futures and tasks do. One word, no separate control block, no weak
// count: cheaper than std::shared_ptr on the paths every await takes.
#ifndef AIO_LOOP_REF_H_
#define AIO_LOOP_REF_H_

#include <cstddef>
#include <type_traits>
#include <utility>

namespace aio::internal {

template <class T>
class Ref {
 public:
  Ref() = default;
  Ref(std::nullptr_t) noexcept {}
  // Takes over one reference the caller owns.
  static Ref adopt(T* object) noexcept {
    Ref ref;
    ref.object_ = object;
    return ref;
  }
  // Takes a new reference.
  static Ref share(T* object) noexcept {
    if (object != nullptr) object->add_ref();
    return adopt(object);
  }

  Ref(const Ref& other) noexcept : object_(other.object_) {
    if (object_ != nullptr) object_->add_ref();
  }
  Ref(Ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}
  template <class U>
    requires std::is_convertible_v<U*, T*>
  Ref(const Ref<U>& other) noexcept : object_(other.get()) {
    if (object_ != nullptr) object_->add_ref();
  }
  template <class U>
    requires std::is_convertible_v<U*, T*>
  Ref(Ref<U>&& other) noexcept : object_(other.detach()) {}
  Ref& operator=(Ref other) noexcept {
    std::swap(object_, other.object_);
    return *this;
  }
  ~Ref() {
    if (object_ != nullptr) object_->drop_ref();
  }

  T* get() const noexcept { return object_; }
  T* operator->() const noexcept { return object_; }
  T& operator*() const noexcept { return *object_; }
  explicit operator bool() const noexcept { return object_ != nullptr; }
  // Gives up the reference without dropping it.
  T* detach() noexcept { return std::exchange(object_, nullptr); }
  void reset() noexcept { Ref().swap(*this); }
  void swap(Ref& other) noexcept { std::swap(object_, other.object_); }

  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.object_ == b.object_; }

 private:
  T* object_ = nullptr;
};

// static_pointer_cast for Ref.
template <class To, class From>
Ref<To> static_ref_cast(Ref<From> ref) noexcept {
  return Ref<To>::adopt(static_cast<To*>(ref.detach()));
}

}  // namespace aio::internal

#endif  // AIO_LOOP_REF_H_
