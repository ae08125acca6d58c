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
