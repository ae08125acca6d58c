//! # Explanations beside the controls
//!
//! Short answers, with the math, to the questions the page exists for
//! (`questions.md`: Q3 on DDPM, Q4 a-b on conditioning and classifier-free guidance).

use leptos::prelude::*;

pub fn sampling() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"Why the reverse step needs a network (Q3c)"</summary>
                <p>"The forward step q(x_t | x_{t-1}) is a Gaussian we choose. The reverse step q(x_{t-1} | x_t) is not: by Bayes it is q(x_t | x_{t-1}) q(x_{t-1}) / q(x_t), and q(x_{t-1}) is the data distribution pushed through t-1 noising steps, an integral over every possible digit. It is intractable. Conditioned on x_0 it is a Gaussian again, q(x_{t-1} | x_t, x_0) = N(μ̃_t(x_t, x_0), β̃_t I), so DDPM trains a network ε_θ(x_t, t) to predict the noise, which gives x_0 ≈ (x_t - √(1-ᾱ_t) ε_θ) / √ᾱ_t and hence the mean μ_θ. Loss: ‖ε - ε_θ(√ᾱ_t x_0 + √(1-ᾱ_t) ε, t)‖²."</p>
                <p>"Tick “show the predicted x₀” to watch that estimate: early on it is a blurry average digit, later it sharpens. DDPM (ancestral) adds fresh noise √β̃_t z at every step; DDIM with η = 0 follows a deterministic path and tolerates far fewer steps."</p>
            </details>
            <details>
                <summary>"Why a U-Net (Q3d)"</summary>
                <p>"The network maps an image to an image of the same size (the noise), so it needs full-resolution output; the downsampling path sees the whole digit (global structure), and the skip connections carry fine detail straight to the upsampling path, which the noise at small t is all about. It is convolutional, so it shares weights across positions, and its time embedding lets one network serve every noise level. DDPM's authors took it from PixelCNN++ / segmentation U-Nets for these reasons. This model (ContextUnet, after TeaPearce/Conditional_Diffusion_MNIST) has two down and two up levels, residual conv blocks and GroupNorm."</p>
            </details>
            <details>
                <summary>"Classifier-free guidance: where the two predictions mix (Q4a)"</summary>
                <p>"Training replaces the class by a null class with probability 0.1, so one network learns both ε(x_t, c) and ε(x_t, ∅). At every sampling step both are computed in one batched forward pass (the batch is doubled: the digits with their class, then with null) and mixed:"</p>
                <p class="math">"ε̂ = (1 + w) ε(x_t, c) − w ε(x_t, ∅)"</p>
                <p>"This is diffusers' guidance_scale = 1 + w. w = 0 is the plain conditional model; larger w pushes along ∇ log p(c | x_t) (an implicit classifier), trading diversity for fidelity: digits get bolder and more typical, and at very large w they saturate. The guidance sweep shows the same seed at w = 0, 0.5, 1, 2 and 4. In the code: digitlab-diffusion's guided_noise, called by DenoiseRun::step."</p>
            </details>
            <details>
                <summary>"Live mode: a student that takes w as an input"</summary>
                <p>"A guided step costs two predictions, and a good picture about 50 steps. The live mode's student was distilled from this model in two stages. Guidance distillation (Meng et al. 2023): the student sees w, embedded like the time step, and learns the guided prediction (1 + w) ε(x_t, c) − w ε(x_t, ∅) for w from 0 to 4, so one forward pass replaces the pair. Progressive distillation (Salimans & Ho 2022): in each round a student learns to land in one DDIM step where its teacher lands in two (49, 25, 13, 7, then 4 steps). The student predicts the velocity v = √ᾱ_t ε − √(1 − ᾱ_t) x_0 rather than the noise: at t = 999 an error in ε reaches x_0 multiplied by about 150, an error in v at most by 1."</p>
                <p>"With live mode on, every move of the slider, the digit, the seed or the number of digits redraws the same seed's digits in 4 network calls, cancelling the redraw in flight; the line under the toggle says how long the last one took. Its card names the sha256 of the model it was distilled from; `digitlab train distill` makes one, and a dropped student card replaces it."</p>
            </details>
            <details>
                <summary>"How the class enters the network, and other ways (Q4b)"</summary>
                <p>"Here the class is a one-hot vector (all zeros for null) fed to two small MLPs whose outputs multiply the decoder features, while the time embedding is added: up = c_emb · h + t_emb, at the 7x7 and 14x14 levels. Other ways: add a learned class embedding to the time embedding (the usual DDPM class-conditioning); FiLM / adaptive GroupNorm (predict a per-channel scale and shift from the condition); concatenate the condition as extra input channels (for image conditions); cross-attention, with image features as queries and condition tokens as keys and values (Stable Diffusion's text conditioning); or no conditioning in the network at all, steering with a separate classifier's gradient (classifier guidance)."</p>
            </details>
        </div>
    }
}

pub fn forward() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"The forward step (Q3a)"</summary>
                <p class="math">"x_t = √(1 − β_t) x_{t−1} + √β_t ε,  ε ~ N(0, I)"</p>
                <p>"Each step shrinks the image a little and adds a little Gaussian noise. The factor √(1 − β_t) keeps the variance at one: if x_{t−1} has unit variance, so does x_t. After T = 1000 linear steps (β from 1e-4 to 0.02) almost nothing of x_0 is left (ᾱ_T ≈ 4e-5), so sampling can start from pure noise."</p>
            </details>
            <details open>
                <summary>"Jumping straight to step t (Q3b)"</summary>
                <p>"With α_t = 1 − β_t, write x_{t−1} = √α_{t−1} x_{t−2} + √(1−α_{t−1}) ε'. Substituting, x_t = √(α_t α_{t−1}) x_{t−2} + √α_t √(1−α_{t−1}) ε' + √(1−α_t) ε. The sum of two independent zero-mean Gaussians is Gaussian with the variances added: α_t(1 − α_{t−1}) + (1 − α_t) = 1 − α_t α_{t−1}. By induction, with ᾱ_t = ∏ α_s:"</p>
                <p class="math">"x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε"</p>
                <p>"The two images above are one draw each; the table compares 64 draws of each route: the mean of x_t − √ᾱ_t x_0 should be 0 and its spread √(1 − ᾱ_t). The cosine schedule destroys information more evenly in t (its SNR falls steadily on the log plot), which helps small images like these."</p>
            </details>
        </div>
    }
}

pub fn divergence() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"KL between the two Gaussians (Q2a)"</summary>
                <p>"With p_g = N(θ, ε²) and p_data = N(θ₀, ε²), log p_g(x) − log p_data(x) = [(x − θ₀)² − (x − θ)²] / (2ε²). Its mean under p_g (where E[x] = θ and E[(x − θ)²] = ε²) is [ε² + (θ − θ₀)² − ε²] / (2ε²), so"</p>
                <p class="math">"KL(p_g ‖ p_data) = (θ − θ₀)² / (2ε²),   ∂KL/∂θ = (θ − θ₀) / ε²"</p>
                <p>"and by symmetry KL(p_data ‖ p_g) is the same number here (equal variances)."</p>
            </details>
            <details open>
                <summary>"As ε → 0 (Q2b, Q2c)"</summary>
                <p>"For θ ≠ θ₀ the KL and its derivative both blow up like 1/ε²: the two densities become spikes that do not overlap, and the divergence says “infinitely far” without saying how far. Move the ε slider down and watch the KL curve leave the axis (clipped) while the densities turn into needles."</p>
                <p>"The loss of Q2c is this KL in disguise. At the optimal discriminator D* = p_data / (p_data + p_g), (1 − D*) / D* = p_g / p_data, so L_G = E_{p_g}[log((1 − D*) / D*)] = KL(p_g ‖ p_data). As ε → 0 the generator is therefore pushed by a value and a gradient that grow like 1/ε² (and are infinite for disjoint supports): with a near-perfect discriminator its logit is a cliff between the two spikes, flat almost everywhere and enormous at the boundary, so the updates of θ are either nothing or huge, and training oscillates or diverges instead of settling. Yes, it is a problem."</p>
                <p>"Jensen-Shannon is bounded: JS = log 2 − E_z[softplus(d z − d²/2)] with d = |θ − θ₀| / ε tends to log 2 as ε → 0 and its derivative to 0. With the original minimax loss the game's value at D* is 2 JS − log 4 (and the generator's term E[log(1 − D*)] has the same gradient in θ), so it saturates: the gradient vanishes and θ stalls. Either way a divergence that ignores distances in x gives the generator no useful signal once the supports barely overlap."</p>
            </details>
            <details>
                <summary>"KL, JS and Wasserstein compared (Q2d)"</summary>
                <p>"W1 = |θ − θ₀| for any ε: it measures how far the mass must move, so it stays finite, is linear in the distance and its gradient ±1 always points to θ₀. KL explodes (infinite for disjoint supports), JS saturates at log 2 (zero gradient). The same holds exactly for the WGAN paper's example P₀ = (0, Z), P_θ = (θ, Z) with Z uniform on [0, 1]: KL = ∞, JS = log 2, W = |θ| for θ ≠ 0 (the read-out above). That is why WGAN trains a critic to estimate W1: its loss tracks sample quality and its gradients do not vanish."</p>
            </details>
        </div>
    }
}

/// Beside the live duel: what each objective does to θ, and why.
pub fn duel() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"What the duel shows (defaults: θ₀ = 0, start θ = 3, ε = 0.05)"</summary>
                <p>"With D = sigmoid(a) and a(x) the discriminator's logit, each generator loss moves θ by −lr · E[∂loss/∂x] at its samples:"</p>
                <p class="math">"minimax E[log(1 − D)]: −D·a′   ·   non-saturating −E[log D]: −(1 − D)·a′   ·   Q2's E[log(1 − D)] − E[log D] = −E[a]: −a′   ·   WGAN −E[f]: −f′"</p>
                <p><b>"minimax"</b>": the discriminator separates the two narrow Gaussians within a few iterations, D(g(z)) → 0 and its tanh units saturate, so both D and a′ vanish where the samples are. The gradient falls to about 1e-8 and θ stays near 3 for good: the saturated JS of the plots above, in a real training run."</p>
                <p><b>"q2"</b>": the loss of the question is KL(p_g ‖ p_data) at the optimal discriminator, whose derivative (θ − θ₀)/ε² is huge for small ε. Its gradient −a′ does not saturate in D, so θ does move, but in jumps: it overshoots θ₀ and keeps oscillating as the discriminator sharpens (watch the gradient plot). A loss that equals KL is unusable when the supports barely overlap."</p>
                <p><b>"non-saturating"</b>": −(1 − D)·a′ keeps its size when D → 0, which is why GANs are trained with it in practice; here it reaches θ₀, with a noisy gradient."</p>
                <p><b>"wgan-clip, wgan-lp"</b>": the critic estimates W1 = |θ − θ₀| up to a factor (read-out: the critic's W estimate): with the one-sided penalty its slope is at most about 1, with clipping it is bounded by a constant that the clip sets. Either way its slope between the two distributions does not vanish, so θ walks steadily to θ₀ whatever ε is: the gradient of W1 in the plots above."</p>
                <p><b>"wgan-gp"</b>": the gradient penalty λ(|f′| − 1)² at points between real and generated samples. In one dimension it has a trap: the critic's slope cannot turn round, only pass through 0, where the penalty is λ. If the critic starts with its slope the wrong way round, it stays so and θ runs away from θ₀ (with the defaults, θ reaches about 7 after 300 iterations). In higher dimensions the gradient can rotate without shrinking, which is why WGAN-GP works there. WGAN-LP's one-sided penalty λ·max(0, |f′| − 1)² (Petzka et al., 2018) has no such barrier."</p>
                <p>"The penalties need f′(x) inside the loss and its gradient in the critic's weights: a second-order gradient, which Burn 0.22's autodiff does not take. For this 1-D critic f′ is computed in closed form, by carrying the derivative through the layers (h = xW + b gives dh = dx·W; tanh gives (1 − tanh²)·dh); Burn then differentiates that expression in the weights as usual. A unit test checks it against Burn's own input gradient and against finite differences."</p>
                <p>"The same runs natively: " <code>"digitlab duel --objective minimax"</code> " (or q2, non-saturating, wgan-clip, wgan-gp, wgan-lp; " <code>"--json"</code> " for every iteration)."</p>
            </details>
        </div>
    }
}

/// The score view's texts (Q1).
pub fn score() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"The method, and what Langevin dynamics does (Q1a)"</summary>
                <p>"A score-based model never writes down p(x); it learns the score s(x) = ∇ₓ log p(x), the direction in which the density grows. Langevin dynamics turns a score into samples:"</p>
                <p class="math">"x ← x + (α/2) ∇ₓ log p(x) + √α z,   z ~ N(0, I)"</p>
                <p>"The first term climbs towards likely regions, the noise keeps the particles from collapsing onto the modes; for a small α and many steps the particles are distributed as p. NCSN (Song & Ermon, 2019) learns s(x, σ) for a range of noise levels σ by denoising score matching, E‖σ s(x + σz, σ) + z‖² (the weighting λ(σ) = σ²): the best s points from the noisy x back towards the clean one, which is exactly ∇ log p_σ of the data blurred by N(0, σ²I). Sampling then runs Langevin dynamics at each level in turn, from large σ to small (annealed), with step α_i = ε σ_i² / σ_L²."</p>
            </details>
            <details open>
                <summary>"Why several noise levels: the manifold and low density (Q1b)"</summary>
                <p><b>"Manifold hypothesis."</b>" Real data (a 28×28 digit) lies near a low-dimensional manifold in pixel space; off it p(x) = 0 and ∇ log p is undefined, and score matching, which needs a density with full support, is inconsistent. Adding Gaussian noise spreads the data over the whole space: p_σ has a well-defined score everywhere."</p>
                <p><b>"Low data density."</b>" Score matching fits s where the training samples are. Between the modes there are almost none, so the learned score is poor there (compare the red arrows with the blue ones between the modes at σ = 1). And even with the exact score, Langevin at a small σ mixes between separated modes extremely slowly: each particle stays in the basin it started in, so the fraction per mode reflects where particles started, not the weights. Choose “plain” and the exact score and watch the table: about half the particles end in each mode instead of 0.2 / 0.8. The score of a mixture locally ignores the weights: near each mode it is that component's score."</p>
                <p>"Large σ fills the empty region with data, so the score is learned there and points across it, weighted by the mixture weights; annealing lets particles settle their mode while the modes still overlap, then sharpens them with the small levels. Choose “annealed” and the weights come back."</p>
            </details>
            <details open>
                <summary>"3 large levels, or 40, or 80 small ones (Q1c)"</summary>
                <p>"The levels must span from σ_max, about the largest distance between data points (so particles can cross between modes), down to σ_min, below the detail one wants to keep. With few levels (3) consecutive p_σ differ a lot: particles that are typical at σ_i are atypical at σ_{i+1}, the short chain at each level does not re-equilibrate, and samples come out with wrong weights or, on images, blurry or noisy. More levels (40, 80) make each hand-over gentle, at the cost of more network calls (L × T): quality improves until the levels overlap well, then only cost grows. Try L = 3, 10, 40, 80 here with the same T and compare the mode table."</p>
            </details>
        </div>
    }
}

pub fn vae() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"What a VAE learns (Q5)"</summary>
                <p>"A latent-variable model p(x) = ∫ p(x | z) p(z) dz with p(z) = N(0, I) and a decoder network giving p(x | z): one Bernoulli probability per pixel. The integral is intractable, so an encoder network proposes q(z | x) = N(μ(x), diag σ²(x)) and training maximises the evidence lower bound"</p>
                <p class="math">"log p(x) ≥ ELBO = E_q[log p(x | z)] − KL(q(z | x) ‖ N(0, I))"</p>
                <p>"The first term is the reconstruction (binary cross-entropy of the pixels), the second keeps the encodings close to the prior so that decoding a fresh z ~ N(0, I) gives a digit. The KL of two Gaussians has a closed form, ½ Σ (μ² + σ² − 1 − log σ²); the expectation is estimated with one sample z = μ + σ ε (the reparameterisation trick, which lets the gradient reach the encoder). The card reports the held-out −ELBO in nats per digit split into both terms; the classic MLP VAE with 20 latents reaches about 100."</p>
            </details>
            <details>
                <summary>"Why VAE samples are blurry"</summary>
                <p>"The decoder's output is the mean of p(x | z), and an encoder that is unsure which digit a z stands for makes the decoder average over them. GANs have no likelihood to average with; diffusion models refine one sample step by step. The comparison view puts numbers on it."</p>
            </details>
        </div>
    }
}

pub fn gan() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"Two GANs from the same z (Q5)"</summary>
                <p>"A generator G maps z ~ N(0, I) to a digit; it never sees the data, only a critic's opinion. DCGAN's discriminator D outputs a logit and minimises the logistic loss softplus(−D(x)) + softplus(D(G(z))); the generator minimises the non-saturating softplus(−D(G(z))) = −log σ(D(G(z))) rather than log(1 − σ(D(G(z)))), whose gradient vanishes when D wins (the duel in the Divergences view shows it in 1-D). WGAN replaces D by a critic f and the loss by the Wasserstein-1 estimate W ≈ E f(x) − E f(G(z)), which is only an estimate when f is 1-Lipschitz."</p>
            </details>
            <details>
                <summary>"WGAN-GP without second-order gradients, and WGAN-SN"</summary>
                <p>"WGAN-GP enforces the Lipschitz bound softly with λ (‖∇ₓ f(x̂)‖ − 1)² at points x̂ between real and generated digits: the weights' gradient then passes through a gradient, a second-order derivative, which Burn 0.22's autodiff does not take (the gradients it returns are not themselves tracked). This critic is small enough to write ∇ₓ f out by hand, as ordinary forward operations: the read-out's weights, times each leaky ReLU's slope (1 or 0.2) at its stored input, back through each convolution by the transposed convolution with the same weights. Burn then differentiates that expression in the weights as usual (tests check it against Burn's own input gradient and against finite differences), so `digitlab train gan --loss wgan-gp` trains the real thing. WGAN-SN instead divides every weight matrix of the critic by its largest singular value (spectral normalisation, Miyato et al. 2018), which makes each layer 1-Lipschitz by construction; `--loss wgan-clip` offers the original WGAN's weight clipping. The Divergences view's duel shows the penalty in 1-D, where the critic's input slope has a closed form."</p>
            </details>
        </div>
    }
}

/// The Text view's texts (Q4 b, c, d).
pub fn text() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"Three ways to apply a condition (Q4 b)"</summary>
                <p>"The class-conditional ContextUnet (Sample view) turns the one-hot label into a per-channel vector and modulates the decoder's features, h ← c_emb · h + t_emb: the whole condition is one vector. FiLM (the third model here) does the same from the text encoder's [CLS] state: h ← h (1 + γ(text)) + β(text). Cross-attention, Stable Diffusion's way (the first two models), keeps one vector per token: at the bottleneck and after each up level every image position is a query, the prompt's token states are keys and values, and each position takes the mixture of tokens it attends to. That is why only cross-attention has a map per token: the map drawn here says where \"thick\" or \"seven\" acted."</p>
            </details>
            <details>
                <summary>"text_encoder([\"\", prompt]): what changed in the code (Q4 c)"</summary>
                <p>"Modules that changed against the class model: captions (crates/captions: attributes measured on each training digit, so each caption is true of its image), a tokenizer (Hugging Face's tokenizers crate, a WordPiece vocabulary trained on those captions), a text encoder (crates/models/src/text_encoder.rs: a 2-layer transformer, trained jointly with the UNet in the latent models; the pixel model borrows the latent model's trained encoder and keeps it frozen, as Stable Diffusion keeps CLIP frozen, because trained jointly in pixel space it learned the style words but not the digit's name), the UNet's conditioning (text_unet.rs), the trainer (10 % of captions replaced by \"\" instead of the label by null) and the sampling pipeline (crates/diffusion/src/text.rs). Guidance itself did not change: the prompt and the empty prompt are encoded in one batch, the UNet runs on [x_t, x_t], and ε̃ = ε(\"\") + (1 + w)(ε(prompt) − ε(\"\")). A negative prompt takes the empty prompt's place, so the step moves away from it."</p>
            </details>
            <details>
                <summary>"Latent diffusion (Q4 d)"</summary>
                <p>"Stable Diffusion runs the diffusion in the latent space of an autoencoder trained first: here a KL-regularised autoencoder maps 28x28 = 784 pixels to 4x7x7 = 196 numbers, scaled to unit variance. The UNet denoises that latent (the same schedule and sampler; no clipping, since a latent has no fixed range), and the decoder turns the final latent into pixels once. What changed: the autoencoder (crates/models/src/autoencoder.rs, digitlab train autoencoder), the UNet's input and depth (4 channels at 7x7, no down/up levels), the schedule's clip_sample, and the decode at the end. The gain is the cost of a UNet call, which `digitlab bench text` measures natively and the README reports; the price is the autoencoder's reconstruction error, in its card."</p>
            </details>
        </div>
    }
}

pub fn edit() -> impl IntoView {
    view! {
        <div class="explain">
            <details open>
                <summary>"SDEdit: noise the drawing, then denoise it as a digit"</summary>
                <p>"The forward process q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) turns any picture into noise; the reverse process turns noise into a digit. SDEdit (Meng et al. 2022) starts the reverse process part-way: it noises your drawing to the level the run reaches after skipping the first steps − ⌊strength × steps⌋ steps, then denoises it as the chosen digit with the usual guidance. Enough noise hides the drawing's wobble and grey; too little leaves it as it was. Strength 0 gives the drawing back; strength 1 forgets it and is the Sample view's digit from the same seed."</p>
            </details>
            <details>
                <summary>"Inpainting: redraw the masked pixels, keep the rest (RePaint)"</summary>
                <p>"RePaint (Lugmayr et al. 2022) needs no retraining: after every reverse step the pixels outside the mask are replaced by your digit noised to the new level, q(x_t | x_0) with fresh noise (and, after the last step, by your digit itself), so only the red pixels come from the model. The model sees the kept pixels only through the noise, so the two parts can disagree at the border; RePaint's resampling goes back up a few levels (x_t from x_(t−j) by the forward process) and denoises them again, several times, giving the model room to harmonise them. Resampling 1 is plain replacement."</p>
            </details>
        </div>
    }
}
