"""Maintained term lists for redaction: diagnoses and medications heard on clinic calls (US, GB, NG, TR).

Add terms in lower case; multi-word terms are matched word by word, case-insensitively, on word boundaries.
Keep words out that are common in ordinary speech ("cold", "pressure", "flu shot", "pain", "heart"): a term here
is redacted wherever it appears, so an ambiguous word costs precision on every call. Brand names and British
spellings sit next to the generic name. Plurals and possessives are handled by the matcher (a trailing "s").
"""

from __future__ import annotations

DIAGNOSES: tuple[str, ...] = (
    # cardiometabolic
    "diabetes", "type 1 diabetes", "type 2 diabetes", "type one diabetes", "type two diabetes", "diabetic",
    "prediabetes", "pre-diabetes", "gestational diabetes", "diabetic neuropathy", "diabetic retinopathy",
    "hypertension", "high blood pressure", "hypotension", "low blood pressure", "high cholesterol",
    "hypercholesterolemia", "hypercholesterolaemia", "hyperlipidemia", "hyperlipidaemia", "atrial fibrillation",
    "afib", "a-fib", "heart failure", "congestive heart failure", "coronary artery disease", "angina",
    "heart attack", "myocardial infarction", "arrhythmia", "tachycardia", "bradycardia", "cardiomyopathy",
    "heart murmur", "stroke", "mini stroke", "transient ischemic attack", "deep vein thrombosis", "dvt",
    "pulmonary embolism", "peripheral artery disease", "varicose veins", "obesity", "metabolic syndrome",
    "hypothyroidism", "hyperthyroidism", "underactive thyroid", "overactive thyroid", "hashimoto's",
    "graves' disease", "goitre", "goiter", "gout",
    # respiratory / infectious
    "asthma", "copd", "chronic obstructive pulmonary disease", "emphysema", "bronchitis", "chronic bronchitis",
    "pneumonia", "tuberculosis", "sleep apnea", "sleep apnoea", "covid", "covid-19", "long covid", "influenza",
    "strep throat", "tonsillitis", "sinusitis", "ear infection", "otitis media", "hepatitis", "hepatitis b",
    "hepatitis c", "hiv", "malaria", "typhoid", "typhoid fever", "cholera", "lassa fever", "measles",
    "chickenpox", "chicken pox", "shingles", "mumps", "whooping cough", "scabies", "ringworm", "impetigo",
    "cellulitis", "sepsis",
    "heat exhaustion", "heat stroke", "heatstroke",
    "urinary tract infection", "uti", "kidney infection", "chlamydia", "gonorrhea",
    "gonorrhoea", "syphilis", "herpes", "genital herpes", "hpv", "thrush", "yeast infection",
    "bacterial vaginosis", "conjunctivitis", "pink eye", "mrsa", "c diff", "h pylori", "helicobacter pylori",
    "brucellosis", "sickle cell", "sickle cell disease", "sickle cell anaemia", "sickle cell anemia",
    # digestive / renal / liver
    "gerd", "acid reflux", "reflux disease", "reflux", "irritable bowel syndrome", "ibs", "crohn's disease", "crohn's",
    "ulcerative colitis", "colitis", "celiac disease", "coeliac disease", "diverticulitis", "gallstones",
    "peptic ulcer", "stomach ulcer", "ulcer", "hemorrhoids", "haemorrhoids", "fatty liver", "cirrhosis",
    "pancreatitis", "appendicitis", "hernia", "kidney stones", "kidney stone", "chronic kidney disease", "ckd",
    "kidney failure", "renal failure", "gastritis", "gastroenteritis",
    # musculoskeletal / pain
    "arthritis", "osteoarthritis", "rheumatoid arthritis", "psoriatic arthritis", "osteoporosis", "osteopenia",
    "fibromyalgia", "lupus", "sciatica", "herniated disc", "slipped disc", "scoliosis", "tendonitis",
    "tendinitis", "carpal tunnel syndrome", "carpal tunnel", "plantar fasciitis", "bursitis", "frozen shoulder",
    "ankylosing spondylitis", "torn acl", "torn meniscus", "rotator cuff tear",
    # neurological / mental health
    "migraine", "migraines", "epilepsy", "seizure disorder", "seizures", "parkinson's", "parkinson's disease",
    "alzheimer's", "alzheimer's disease", "dementia", "multiple sclerosis", "neuropathy",
    "peripheral neuropathy", "bell's palsy", "concussion", "vertigo", "restless legs syndrome", "depression",
    "major depressive disorder", "postpartum depression", "postnatal depression", "anxiety", "anxiety disorder",
    "generalized anxiety disorder", "generalised anxiety disorder", "panic disorder", "panic attacks",
    "bipolar disorder", "bipolar", "schizophrenia", "ptsd", "post-traumatic stress disorder", "ocd",
    "obsessive compulsive disorder", "adhd", "autism", "insomnia", "eating disorder", "anorexia",
    "bulimia", "substance use disorder", "alcohol use disorder", "opioid use disorder", "addiction",
    # skin / eye / ent
    "eczema", "psoriasis", "acne", "rosacea", "dermatitis", "hives", "vitiligo", "melanoma", "skin cancer",
    "glaucoma", "cataracts", "cataract", "macular degeneration", "tinnitus", "hearing loss", "allergic rhinitis",
    "hay fever",
    # cancer / blood
    "cancer", "breast cancer", "prostate cancer", "lung cancer", "colon cancer", "colorectal cancer",
    "cervical cancer", "ovarian cancer", "pancreatic cancer", "leukemia", "leukaemia", "lymphoma", "myeloma",
    "tumor", "tumour", "anemia", "anaemia", "iron deficiency anemia", "iron deficiency anaemia", "hemophilia",
    "haemophilia", "thalassemia", "thalassaemia", "vitamin d deficiency", "b12 deficiency",
    # women's / men's / urology
    "endometriosis", "pcos", "polycystic ovary syndrome", "fibroids", "uterine fibroids", "infertility",
    "preeclampsia", "pre-eclampsia", "miscarriage", "ectopic pregnancy", "menopause", "erectile dysfunction",
    "enlarged prostate", "bph", "benign prostatic hyperplasia", "incontinence", "overactive bladder",
    "interstitial cystitis", "cystitis", "prostatitis",
    # allergy / immune
    "hypertensive", "asthmatic", "epileptic", "anemic", "anaemic", "arthritic", "hypothyroid", "hyperthyroid",
    "peanut allergy", "penicillin allergy", "anaphylaxis", "celiac", "coeliac",
    # dental / oral ("cavity" and "cavities" stay out: also a wall cavity; bare "fracture" too: "fracture clinic")
    "gingivitis", "periodontitis", "periodontal disease", "gum disease", "abscess", "dental abscess",
    "tooth abscess", "abscessed tooth", "dental caries", "caries", "tooth decay", "pulpitis", "dry socket",
    "tmj", "tmj disorder", "tmd", "temporomandibular joint disorder", "temporomandibular disorder", "bruxism",
    "malocclusion", "impacted wisdom tooth", "impacted wisdom teeth", "pericoronitis", "peri-implantitis",
    "cracked tooth syndrome", "dentine hypersensitivity", "dentin hypersensitivity", "halitosis", "oral cancer",
    "mouth cancer", "oral thrush", "leukoplakia", "canker sore", "canker sores", "cold sore", "cold sores",
    "mouth ulcers", "enamel erosion", "dental fluorosis",
    # physio / orthopaedic
    "tennis elbow", "golfer's elbow", "shin splints", "whiplash", "acl tear", "torn acl", "torn ligament",
    "torn rotator cuff", "rotator cuff injury", "achilles tendinitis", "achilles tendonitis",
    "achilles tendinopathy", "patellar tendinopathy", "tendinopathy", "spondylosis", "cervical spondylosis",
    "spinal stenosis", "degenerative disc disease", "bulging disc", "disc prolapse", "lumbago",
    "stress fracture", "hip fracture", "fractured hip", "fractured arm", "fractured leg",
    "fractured wrist", "fractured ankle", "broken wrist",
    "broken ankle", "broken arm", "broken leg", "broken hip", "broken collarbone", "sprained ankle",
    "osteomyelitis", "polymyalgia rheumatica", "costochondritis", "trigger finger", "de quervain's",
    "dupuytren's contracture", "hypermobility syndrome", "ehlers-danlos syndrome",
    # skin
    "atopic dermatitis", "contact dermatitis", "seborrheic dermatitis", "seborrhoeic dermatitis",
    "actinic keratosis", "basal cell carcinoma", "squamous cell carcinoma", "alopecia", "alopecia areata",
    "verruca", "verrucas", "plantar wart", "plantar warts", "genital warts", "molluscum contagiosum",
    "athlete's foot", "tinea", "fungal nail infection", "onychomycosis", "hyperhidrosis", "keloid", "melasma",
    "urticaria", "folliculitis", "hidradenitis suppurativa", "cystic acne", "lichen planus", "lichen sclerosus",
    # children
    "croup", "bronchiolitis", "rsv", "hand foot and mouth disease", "hand foot and mouth", "scarlet fever",
    "fifth disease", "slapped cheek syndrome", "roseola", "colic", "nappy rash", "diaper rash", "head lice",
    "threadworms", "pinworms", "neonatal jaundice", "jaundice", "febrile seizure", "febrile convulsion",
    "glue ear", "tongue tie", "developmental delay", "failure to thrive", "rubella", "german measles",
    "kawasaki disease", "laryngitis", "pharyngitis", "otitis externa", "swimmer's ear", "enlarged adenoids",
    "reflux in babies", "cow's milk allergy", "dyslexia", "dyspraxia", "cerebral palsy", "down syndrome",
    # women's health and pregnancy
    "pelvic inflammatory disease", "ovarian cyst", "ovarian cysts", "adenomyosis", "menorrhagia",
    "amenorrhea", "amenorrhoea", "dysmenorrhea", "dysmenorrhoea", "pmdd", "premenstrual dysphoric disorder",
    "mastitis", "hyperemesis gravidarum", "hyperemesis", "placenta previa", "placenta praevia",
    "gestational hypertension", "cervical dysplasia", "cin3", "uterine prolapse", "pelvic organ prolapse",
    "prolapse", "perimenopause", "recurrent miscarriage", "trichomoniasis", "vaginismus", "vaginal thrush",
    "postpartum hemorrhage", "postpartum haemorrhage", "postnatal depression", "breech pregnancy",
    "high-risk pregnancy", "stillbirth", "chorioamnionitis", "obstetric cholestasis",
    # primary care
    "chest infection", "sinus infection", "upper respiratory infection", "respiratory tract infection",
    "hypoglycemia", "hypoglycaemia", "hyperglycemia", "hyperglycaemia", "prediabetic", "pre-diabetic",
    "mononucleosis", "glandular fever", "lyme disease", "norovirus", "food poisoning", "labyrinthitis",
    "meniere's disease", "trigeminal neuralgia", "cluster headaches", "pleurisy", "pyelonephritis",
    "sjogren's syndrome", "sjögren's syndrome", "raynaud's", "raynaud's disease", "chronic fatigue syndrome",
    "social anxiety disorder", "agoraphobia", "borderline personality disorder", "self-harm", "self harm",
    "kidney disease", "liver disease", "heart disease", "thyroid disease", "hyperparathyroidism",
    "addison's disease", "cushing's syndrome", "hemochromatosis", "haemochromatosis", "deviated septum",
    "nasal polyps", "tonsil stones", "blepharitis", "stye", "chalazion", "dry eye syndrome",
)

MEDICATIONS: tuple[str, ...] = (
    # diabetes
    "metformin", "glucophage", "insulin", "lantus", "insulin glargine", "humalog", "novolog", "novorapid",
    "levemir", "tresiba", "glipizide", "glimepiride", "gliclazide", "glibenclamide", "glyburide", "sitagliptin",
    "januvia", "janumet", "empagliflozin", "jardiance", "dapagliflozin", "farxiga", "forxiga", "canagliflozin",
    "invokana", "semaglutide", "ozempic", "wegovy", "rybelsus", "liraglutide", "victoza", "saxenda",
    "dulaglutide", "trulicity", "tirzepatide", "mounjaro", "zepbound", "pioglitazone", "actos",
    # cardiovascular
    "lisinopril", "zestril", "enalapril", "ramipril", "perindopril", "captopril", "losartan", "cozaar",
    "valsartan", "diovan", "irbesartan", "candesartan", "telmisartan", "olmesartan", "amlodipine", "norvasc",
    "nifedipine", "diltiazem", "verapamil", "metoprolol", "lopressor", "toprol", "atenolol", "bisoprolol",
    "carvedilol", "propranolol", "nebivolol", "labetalol", "hydrochlorothiazide", "hctz", "chlorthalidone",
    "indapamide", "bendroflumethiazide", "furosemide", "frusemide", "lasix", "bumetanide", "spironolactone",
    "aldactone", "atorvastatin", "lipitor", "simvastatin", "zocor", "rosuvastatin", "crestor", "pravastatin",
    "lovastatin", "ezetimibe", "zetia", "fenofibrate", "warfarin", "coumadin", "apixaban", "eliquis",
    "rivaroxaban", "xarelto", "dabigatran", "pradaxa", "edoxaban", "clopidogrel", "plavix", "ticagrelor",
    "brilinta", "baby aspirin", "digoxin", "amiodarone", "nitroglycerin", "gtn", "gtn spray",
    "glyceryl trinitrate", "isosorbide", "hydralazine",
    "clonidine", "doxazosin", "entresto", "sacubitril",
    # respiratory / allergy
    "albuterol", "salbutamol", "ventolin", "proair", "levalbuterol", "fluticasone", "flovent", "flonase",
    "advair", "seretide", "symbicort", "budesonide", "pulmicort", "beclomethasone", "qvar", "clenil",
    "montelukast", "singulair", "tiotropium", "spiriva", "breo", "trelegy", "prednisone", "prednisolone",
    "methylprednisolone", "medrol", "dexamethasone", "hydrocortisone", "cetirizine", "zyrtec", "loratadine",
    "claritin", "fexofenadine", "diphenhydramine", "benadryl", "chlorphenamine", "piriton",
    "epipen", "epinephrine", "adrenaline auto-injector",
    # antibiotics / antivirals / antimalarials
    "amoxicillin", "amoxil", "augmentin", "co-amoxiclav", "penicillin", "flucloxacillin", "azithromycin",
    "zithromax", "z-pack", "z-pak", "clarithromycin", "erythromycin", "doxycycline", "minocycline",
    "cephalexin", "cefalexin", "keflex", "cefuroxime", "ceftriaxone", "cefdinir", "ciprofloxacin", "cipro",
    "levofloxacin", "levaquin", "nitrofurantoin", "macrobid", "trimethoprim", "bactrim", "septra",
    "sulfamethoxazole", "metronidazole", "flagyl", "clindamycin", "vancomycin", "linezolid", "fluconazole",
    "diflucan", "nystatin", "terbinafine", "acyclovir", "aciclovir", "valacyclovir", "valtrex", "oseltamivir",
    "tamiflu", "paxlovid", "artemether", "lumefantrine", "coartem", "artesunate", "chloroquine",
    "hydroxychloroquine", "plaquenil", "quinine", "fansidar", "paludrine",
    "proguanil", "malarone", "atovaquone", "mefloquine", "lariam", "primaquine", "doxycycline hyclate",
    "isoniazid", "rifampicin", "rifampin",
    "tenofovir", "truvada", "descovy", "biktarvy", "dolutegravir", "efavirenz", "lamivudine",
    # pain / musculoskeletal
    "ibuprofen", "advil", "motrin", "nurofen", "naproxen", "aleve", "naprosyn", "diclofenac", "voltaren",
    "celecoxib", "celebrex", "meloxicam", "mobic", "acetaminophen", "tylenol", "paracetamol", "panadol",
    "calpol", "co-codamol", "codeine", "tramadol", "ultram", "hydrocodone", "vicodin", "norco", "oxycodone",
    "oxycontin", "percocet", "morphine", "fentanyl", "buprenorphine", "suboxone", "methadone", "naloxone",
    "narcan", "gabapentin", "neurontin", "pregabalin", "lyrica", "cyclobenzaprine", "flexeril", "baclofen",
    "tizanidine", "methocarbamol", "allopurinol", "zyloprim", "colchicine", "febuxostat", "methotrexate",
    "humira", "adalimumab", "enbrel", "etanercept", "sumatriptan", "imitrex", "rizatriptan", "maxalt",
    "aimovig", "nurtec",
    # mental health / neuro / sleep
    "sertraline", "zoloft", "fluoxetine", "prozac", "citalopram", "celexa", "escitalopram", "lexapro",
    "paroxetine", "paxil", "seroxat", "venlafaxine", "effexor", "duloxetine", "cymbalta", "desvenlafaxine",
    "bupropion", "wellbutrin", "mirtazapine", "remeron", "trazodone", "amitriptyline", "nortriptyline",
    "vortioxetine", "trintellix", "lithium", "lamotrigine", "lamictal", "valproate", "sodium valproate",
    "depakote", "divalproex", "carbamazepine", "tegretol", "oxcarbazepine", "levetiracetam", "keppra",
    "topiramate", "topamax", "phenytoin", "dilantin", "quetiapine", "seroquel", "olanzapine", "zyprexa",
    "risperidone", "risperdal", "aripiprazole", "abilify", "haloperidol", "clozapine", "lurasidone", "latuda",
    "alprazolam", "xanax", "lorazepam", "ativan", "clonazepam", "klonopin", "diazepam", "valium",
    "temazepam", "zolpidem", "ambien", "zopiclone", "eszopiclone", "lunesta", "melatonin", "hydroxyzine",
    "buspirone", "buspar", "methylphenidate", "ritalin", "concerta", "adderall", "vyvanse",
    "lisdexamfetamine", "dextroamphetamine", "atomoxetine", "strattera", "guanfacine", "donepezil", "aricept",
    "memantine", "namenda", "levodopa", "carbidopa", "sinemet", "ropinirole", "pramipexole",
    # stomach / gut
    "omeprazole", "prilosec", "losec", "esomeprazole", "nexium", "pantoprazole", "protonix", "lansoprazole",
    "prevacid", "rabeprazole", "famotidine", "pepcid", "ranitidine", "zantac", "ondansetron", "zofran",
    "metoclopramide", "reglan", "domperidone", "loperamide", "imodium", "mesalamine", "mesalazine", "lialda",
    "pentasa", "sulfasalazine", "lactulose", "senna", "bisacodyl", "dulcolax", "movicol", "miralax",
    "buscopan", "hyoscine", "gaviscon", "linaclotide", "linzess",
    # thyroid / hormones / women's health
    "levothyroxine", "synthroid", "eltroxin", "euthyrox", "liothyronine", "methimazole", "carbimazole",
    "propylthiouracil", "estradiol", "premarin", "progesterone", "medroxyprogesterone", "depo-provera",
    "norethisterone", "microgynon", "yasmin", "nexplanon", "mirena", "levonorgestrel", "plan b",
    "clomiphene", "clomid", "letrozole", "femara", "tamoxifen", "anastrozole", "arimidex", "testosterone",
    "finasteride", "proscar", "propecia", "tamsulosin", "flomax", "sildenafil", "viagra", "tadalafil",
    "cialis", "oxybutynin", "mirabegron", "myrbetriq", "alendronate", "fosamax", "risedronate",
    "denosumab", "prolia", "misoprostol", "cytotec",
    # skin / eye
    "isotretinoin", "accutane", "tretinoin", "retin-a", "clobetasol", "triamcinolone", "mupirocin",
    "bactroban", "permethrin", "ivermectin", "latanoprost", "xalatan", "timolol", "dupixent", "dupilumab",
    # oncology / immunology / other
    "chemotherapy", "keytruda", "herceptin", "rituximab", "tacrolimus", "cyclosporine", "ciclosporin",
    "mycophenolate", "azathioprine", "ferrous sulfate", "ferrous sulphate", "folic acid",
    "vitamin b12 injections", "b12 injections", "b12 injection", "vitamin b12",
    "hydroxyurea", "antiretrovirals", "antiretroviral therapy",
    # Turkish and Nigerian brand names heard at front desks
    "parol", "majezik", "arveles", "apranax", "augmentin bid", "glifor", "beloc", "coraspin", "emcolor",
    "lustral", "cipralex", "emodium", "emzor paracetamol", "septrin", "camosunate",
    "lonart", "amatem", "p-alaxin",
    # dental
    "chlorhexidine", "corsodyl", "peridex", "lidocaine", "lignocaine", "articaine", "novocaine", "benzocaine",
    "orajel", "duraphat", "phenoxymethylpenicillin", "penicillin v",
    # skin
    "betamethasone", "mometasone", "elocon", "benzoyl peroxide", "adapalene", "differin", "minoxidil",
    "rogaine", "ketoconazole", "nizoral", "clotrimazole", "canesten", "miconazole", "daktarin", "lamisil",
    "protopic", "pimecrolimus", "elidel", "calcipotriol", "dovonex", "azelaic acid", "finacea", "metrogel",
    "imiquimod", "aldara", "efudix", "fluorouracil", "fusidic acid", "fucidin", "epiduo", "duac",
    # children
    "dioralyte", "pedialyte", "infacol", "mebendazole", "vermox", "albendazole", "malathion",
    # women's health
    "tranexamic acid", "mefenamic acid", "ponstan", "cerazette", "desogestrel", "rigevidon", "loestrin",
    "nuvaring", "ulipristal", "ellaone", "utrogestan", "evorel", "hormone replacement therapy", "hrt",
    "vagifem", "oestrogel", "cyclizine", "prochlorperazine", "buccastem", "diclegis", "methyldopa",
    # physio / pain / primary care
    "voltarol", "ibuleve", "dihydrocodeine", "cortisone injection", "steroid injection", "etoricoxib",
    "arcoxia", "co-dydramol", "hydroxocobalamin", "ferrous fumarate", "colecalciferol", "cholecalciferol",
    "fultium", "adcal", "beconase", "nasonex", "chloramphenicol", "otomize", "sofradex", "fucithalmic",
    "nitrofurantoin macrocrystals", "pivmecillinam", "fosfomycin", "monurol",
)
