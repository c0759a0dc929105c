/* plot.h - the loss-curve PNG of a training log. */
#ifndef PP_IO_PLOT_H
#define PP_IO_PLOT_H
/* Reads the CSV's "step" and "loss" columns and the column after "loss" (the
 * first term: the diffusion loss, the VAE's reconstruction loss), smooths each
 * with an EMA and draws them on a log-scaled y axis: the total blue, the first
 * term red. 640x320 PNG. */
int pp_plot_loss_csv(const char *csv_path, const char *png_path);
#endif
