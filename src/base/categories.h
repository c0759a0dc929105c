/* physics.h - WISA's 17 physical categories (shared by the simulator, the
 * evaluator and the physical branch). Order is fixed: it is the layout of every
 * 17-dim category vector and of the 17 channels of the phenomenon maps. */
#ifndef PP_PHYSICS_H
#define PP_PHYSICS_H

enum {
    /* dynamics */
    PP_CAT_COLLISION, PP_CAT_RIGID_BODY, PP_CAT_ELASTIC, PP_CAT_LIQUID, PP_CAT_GAS,
    PP_CAT_DEFORMATION,
    /* thermodynamics */
    PP_CAT_MELTING, PP_CAT_SOLIDIFICATION, PP_CAT_VAPORIZATION, PP_CAT_LIQUEFACTION,
    PP_CAT_EXPLOSION, PP_CAT_COMBUSTION,
    /* optics */
    PP_CAT_REFLECTION, PP_CAT_REFRACTION, PP_CAT_SCATTERING, PP_CAT_INTERFERENCE,
    PP_CAT_UNNATURAL_LIGHT,
    PP_NCAT /* = 17 */
};

/* snake_case names, as used in JSON and on the command line. */
static const char *const pp_cat_names[PP_NCAT] = {
    "collision", "rigid_body_motion", "elastic_motion", "liquid_motion", "gas_motion",
    "deformation", "melting", "solidification", "vaporization", "liquefaction",
    "explosion", "combustion", "reflection", "refraction", "scattering",
    "interference_diffraction", "unnatural_light_source",
};
#endif
