// fedgan-train: centralized GAN training over the same code the federated client runs. It is the
// quality anchor federated runs are compared with.

#include "gan/error.h"
#include "gan/tools/train_run.h"

#include <CLI/CLI.hpp>

#include <iostream>

namespace {

void add_options(CLI::App& app, fedgan::gan::TrainRunOptions& o, std::string& loss) {
  auto& t = o.trainer;
  app.add_option("--dataset", o.dataset, "fashion-mnist, ring or grid")
      ->check(CLI::IsMember({"fashion-mnist", "ring", "grid"}));
  app.add_option("--data-dir", o.data_dir, "Directory of the Fashion-MNIST IDX files");
  app.add_option("--partition", o.partition,
                 "Train on one client's share: iid, classes:K or dirichlet:ALPHA");
  app.add_option("--clients", o.clients, "Number of clients for --partition")
      ->check(CLI::PositiveNumber);
  app.add_option("--client-index", o.client_index, "Which client's share to train on");
  app.add_option("--architecture", o.model.architecture, "dcgan or mlp (default: by dataset)");
  app.add_option("--loss", loss, "ns, hinge or wgan-gp")
      ->check(CLI::IsMember({"ns", "hinge", "wgan-gp"}));
  app.add_option("--steps", o.steps, "Generator updates");
  app.add_option("--batch-size", t.batch_size, "Samples per optimizer step");
  app.add_option("--accumulation-steps", t.accumulation_steps,
                 "Micro-batches per optimizer step (must divide the batch size)");
  app.add_option("--n-critic", t.n_critic, "Discriminator updates per generator update");
  app.add_option("--lr-g", t.generator_lr, "Generator learning rate (Adam)");
  app.add_option("--lr-d", t.discriminator_lr, "Discriminator learning rate (Adam)");
  app.add_option("--lr-decay", o.lr_decay, "none, or linear to zero over the run")
      ->check(CLI::IsMember({"none", "linear"}));
  app.add_option("--beta1", t.beta1, "Adam beta1");
  app.add_option("--beta2", t.beta2, "Adam beta2");
  app.add_option("--grad-clip", t.grad_clip_norm, "Gradient L2-norm clip, 0 = off");
  app.add_option("--gp-weight", t.gp_weight, "WGAN-GP penalty weight");
  app.add_flag("--augment", t.augment, "Differentiable augmentation (flip, translation)");
  app.add_option("--latent-dim", o.model.dcgan.latent_dim, "DCGAN latent size");
  app.add_option("--ema", o.ema,
                 "Decay of a moving average of the generator's weights, evaluated beside the last "
                 "weights (0 = off)");
  app.add_option("--pack", o.model.mlp.pack,
                 "MLP discriminator: samples judged jointly (PacGAN packing, 1 = none)");
  app.add_option("--mixture-rows", o.mixture_rows, "Training rows drawn from a 2-D mixture");
  app.add_option("--seed", o.seed, "Seed of data order, initialisation and latents");
  app.add_option("--device", o.device, "auto, cpu, cuda or cuda:N");
  app.add_option("--threads", o.threads, "LibTorch intra-op threads (0 = library default)");
  app.add_option("--out", o.out_dir, "Output directory");
  app.add_option("--log-every", o.log_every, "Log every N steps");
  app.add_option("--sample-every", o.sample_every, "Write a sample image every N steps (0 = end)");
  app.add_flag("--eval", o.evaluate, "Evaluate at the end (modes, or classifier-FID and coverage)");
  app.add_option("--eval-samples", o.eval_samples, "Generated samples for evaluation");
  app.add_option("--cache-dir", o.cache_dir, "Cache of the evaluation classifier");
}

// Per-dataset defaults that differ from the DCGAN reference settings.
void apply_dataset_defaults(const CLI::App& app, fedgan::gan::TrainRunOptions& o) {
  if (o.dataset == "fashion-mnist") return;
  // The PacGAN 2-D experiments: batch 100, Adam 1e-4.
  if (app.count("--batch-size") == 0) o.trainer.batch_size = 100;
  if (app.count("--lr-g") == 0) o.trainer.generator_lr = 1e-4;
  if (app.count("--lr-d") == 0) o.trainer.discriminator_lr = 1e-4;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"fedgan-train: centralized GAN training (the quality anchor for federated runs)"};
  fedgan::gan::TrainRunOptions options;
  options.data_dir = FEDGAN_DEFAULT_FASHION_MNIST_DIR;
  options.cache_dir = FEDGAN_DEFAULT_CACHE_DIR;
  options.model.architecture.clear();
  std::string loss = "ns";
  add_options(app, options, loss);
  CLI11_PARSE(app, argc, argv);
  try {
    options.trainer.loss = fedgan::gan::parse_loss_kind(loss);
    apply_dataset_defaults(app, options);
    fedgan::gan::run_training(options, std::cout);
  } catch (const std::exception& e) {
    std::cerr << "fedgan-train: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
