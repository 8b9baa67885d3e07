#pragma once

#include "gan/data/fashion_mnist.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace fedgan::gan {

/// The evaluation classifier for 28x28 grayscale images: a small CNN whose penultimate layer
/// (kFeatureDim units after ReLU) gives the features of classifier-FID and whose logits give the
/// predicted classes for class coverage. Inputs are in [-1, 1], like the generator's outputs.
/// Layers: Conv(1->32, 3x3) BN ReLU MaxPool2, Conv(32->64, 3x3) BN ReLU MaxPool2, Flatten,
/// Linear(3136->128) ReLU [features], Linear(128->num_classes) [logits]. Batch norm makes the
/// outputs depend on train()/eval(); every evaluation function below runs in eval mode.
class ImageClassifierImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kFeatureDim = 128;
  explicit ImageClassifierImpl(int64_t num_classes = 10);

  torch::Tensor features(const torch::Tensor& images);
  torch::Tensor forward(const torch::Tensor& images);  // logits
  /// Logits from features already computed by features(), so features and predictions of the same
  /// images need one pass through the convolutions.
  torch::Tensor logits(const torch::Tensor& features);
  int64_t num_classes() const { return head_->options.out_features(); }

 private:
  torch::nn::Sequential body_{nullptr};  // images -> features
  torch::nn::Linear head_{nullptr};      // features -> logits
};
TORCH_MODULE(ImageClassifier);

/// Defaults reach about 0.91 test accuracy on Fashion-MNIST in about a minute on two idle cores.
struct ClassifierTrainingOptions {
  int epochs = 3;
  int64_t batch_size = 64;
  double learning_rate = 1e-3;  // Adam
  /// The learning rate is multiplied by this for the last epoch (when epochs > 1); the short
  /// anneal is worth about one point of accuracy.
  double last_epoch_lr_factor = 0.1;
  uint64_t seed = 1234;  // parameter initialisation and shuffling
  int threads = 0;       // 0: leave LibTorch's setting alone; else set for the training's duration
};

/// Trains the classifier on `train`, reports test accuracy on `test`.
struct TrainedClassifier {
  ImageClassifier model{nullptr};
  double test_accuracy = 0.0;
};
TrainedClassifier train_classifier(const ImageDataset& train, const ImageDataset& test,
                                   const ClassifierTrainingOptions& options = {});

/// Fraction of `dataset` classified correctly (eval mode, batched, no grad).
double classifier_accuracy(ImageClassifier& model, const ImageDataset& dataset);

/// Returns the classifier cached at `cache_path`, or trains one on the Fashion-MNIST files in
/// `data_dir`, checks it reaches `min_accuracy` on the test split (throws GanError otherwise) and
/// writes it to `cache_path` atomically (temporary file + rename). A cache file that cannot be
/// read (or holds another architecture) is retrained over, with a message on stderr. The cache is
/// not keyed by `options`: delete the file to retrain with other options. Training prints one line
/// per epoch on stderr.
ImageClassifier load_or_train_classifier(const std::string& cache_path, const std::string& data_dir,
                                         double min_accuracy = 0.89,
                                         const ClassifierTrainingOptions& options = {});

/// Penultimate features (N x kFeatureDim) and predictions (N) for a batch of images, computed in
/// eval mode without gradients, in chunks of `chunk` rows.
torch::Tensor classifier_features(ImageClassifier& model, const torch::Tensor& images,
                                  int64_t chunk = 1000);
torch::Tensor classifier_predictions(ImageClassifier& model, const torch::Tensor& images,
                                     int64_t chunk = 1000);

/// Histogram of predicted classes and how far it is from uniform.
struct ClassCoverage {
  std::vector<int64_t> counts;  // per class
  int64_t classes_covered = 0;  // classes with at least 1% of the predictions
  double kl_to_uniform = 0.0;   // KL(histogram || uniform), 0 when perfectly balanced
};
ClassCoverage class_coverage(const torch::Tensor& predictions, int64_t num_classes);

/// classifier-FID and class coverage of generated images against real ones.
struct ImageQuality {
  double fid = 0.0;
  ClassCoverage coverage;
};
ImageQuality evaluate_images(ImageClassifier& model, const torch::Tensor& real_images,
                             const torch::Tensor& generated_images);

}  // namespace fedgan::gan
