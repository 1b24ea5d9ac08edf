package trainer

import "github.com/nashmd/nashmd/torch"

// nashMDLoss is TRL's NashMDTrainer._compute_losses.
//
// logp (B, T): log π_θ(y_t | x, y_<t) of the policy's own samples, with
// gradient, 0 at padding; refLogp (B, T): the same under π_ref, 0 at
// padding; prob (B): P(y ≻ y' | x) from the judge, y' the mixture sample.
//
//	score_b = (p_b − ½) · Σ_t logp_bt               REINFORCE, ½ a control variate
//	kl_b    = Σ_t sg(logp − refLogp)_bt             the KL estimate (no gradient)
//	loss    = mean_b[ β · Σ_t w_bt · logp_bt − score_b ]
//
// with w = sg(logp − refLogp) (kl_estimator "trl"), or its reverse cumulative
// sum w_bt = Σ_{t' ≥ t} sg(logp − refLogp)_bt' (kl_estimator
// "reward_to_go", the paper's App. F form). β is TRL's beta (the paper's τ).
func nashMDLoss(s *torch.Scope, logp, refLogp, prob *torch.Tensor, beta float64, rewardToGo bool) (loss, score, kl *torch.Tensor) {
	score = s.Mul(s.SubScalar(prob, 0.5), s.SumDim(logp, 1, false)) // (B)
	logRatio := s.Detach(s.Sub(logp, refLogp))                      // (B, T)
	kl = s.SumDim(logRatio, 1, false)                               // (B)
	w := logRatio
	if rewardToGo {
		w = s.Cumsum(logRatio, 1, true)
	}
	klLoss := s.SumDim(s.Mul(w, logp), 1, false) // (B)
	loss = s.Mean(s.Sub(s.MulScalar(klLoss, beta), score))
	return loss, score, kl
}
